"""The per-process fan-out on the real memory:// broadcaster: scope and type filtering,
bounded queues, machine events, and the subscription permission check in the schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bson import ObjectId
from starlette.requests import Request

from config import Settings
from graph.context import Context
from graph.schema import build_schema
from infra.live.envelope import Envelope, EventType, new_envelope
from infra.live.hub import LiveHub, LiveSubscriber, make_broadcast, set_hub
from models.scope import Scope


@pytest.fixture
async def hub() -> AsyncIterator[LiveHub]:
    live = LiveHub(make_broadcast("memory://"), queue_size=3)
    await live.start()
    set_hub(live)
    try:
        yield live
    finally:
        set_hub(None)
        await live.stop()


def event(
    org: ObjectId,
    shop: ObjectId,
    machine: ObjectId,
    seq: int,
    kind: EventType = EventType.INVENTORY_CHANGED,
    payload: dict | None = None,
) -> Envelope:
    return new_envelope(
        kind,
        organization_id=str(org),
        shop_id=str(shop),
        machine_id=str(machine),
        sequence=seq,
        payload=payload or {},
    )


async def test_subscribers_get_only_their_scope_and_types_in_order(hub: LiveHub) -> None:
    org, other_org = ObjectId(), ObjectId()
    shop_a, shop_b, machine_a, machine_b = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    inventory = frozenset({EventType.INVENTORY_CHANGED})
    async with (
        hub.subscribe(scope=Scope(org_id=org, shop_ids=frozenset({shop_a})), types=inventory) as a,
        hub.subscribe(scope=Scope.organization(org), types=inventory) as whole,
        hub.subscribe(
            scope=Scope.organization(org), types=frozenset({EventType.MACHINE_EVENT})
        ) as machine_events,
        hub.subscribe(scope=Scope.organization(other_org), types=inventory) as outsider,
    ):
        await hub.publish(event(org, shop_b, machine_b, 1))
        await hub.publish(event(org, shop_a, machine_a, 2))
        await hub.publish(event(other_org, shop_a, machine_a, 3))
        async with asyncio.timeout(5):
            assert (await a.next()).sequence == 2
            assert [(await whole.next()).sequence for _ in range(2)] == [1, 2]
            assert (await outsider.next()).sequence == 3
        assert a.queue.empty()
        assert machine_events.queue.empty()
        assert whole.queue.empty()


async def test_a_full_queue_drops_the_subscriber_and_cancels_its_consumer(hub: LiveHub) -> None:
    org, shop, machine = ObjectId(), ObjectId(), ObjectId()
    overflowed: list[LiveSubscriber] = []
    entered = asyncio.Event()

    async def slow_consumer() -> None:
        async with hub.subscribe(
            scope=Scope.organization(org),
            types=frozenset({EventType.INVENTORY_CHANGED}),
            on_overflow=overflowed.append,
        ):
            entered.set()
            await asyncio.Event().wait()  # never reads

    consumer = asyncio.create_task(slow_consumer())
    async with asyncio.timeout(5):
        await entered.wait()
    async with hub.subscribe(
        scope=Scope.organization(org), types=frozenset({EventType.INVENTORY_CHANGED})
    ) as healthy:
        for seq in range(1, 5):  # queue_size is 3: the fourth event overflows the slow one
            await hub.publish(event(org, shop, machine, seq))
            async with asyncio.timeout(5):
                assert (await healthy.next()).sequence == seq
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await consumer
    assert len(overflowed) == 1
    assert overflowed[0].dropped
    assert hub.subscriber_count == 0


async def test_machine_events_reach_subscribers_of_that_machine(hub: LiveHub) -> None:
    org, shop, machine, other_machine = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    scope = Scope(org_id=org, shop_ids=frozenset({shop}), machine_ids=frozenset({machine}))
    async with hub.subscribe(scope=scope, types=frozenset({EventType.MACHINE_EVENT})) as sub:
        for seq, target in enumerate((other_machine, machine), start=1):
            door = {"kind": "DOOR_OPEN", "data": {"n": 1}}
            await hub.publish(event(org, shop, target, seq, EventType.MACHINE_EVENT, door))
        async with asyncio.timeout(5):
            received = await sub.next()
    assert received.machine_id == str(machine)
    assert received.payload == {"kind": "DOOR_OPEN", "data": {"n": 1}}
    assert sub.queue.empty()


async def test_subscribing_without_a_principal_is_refused_by_the_permission_check() -> None:
    settings = Settings(app_env="test")
    schema = build_schema(settings)
    # An anonymous caller's context: only the schema's guard stands between it and the stream.
    context = Context(
        settings=settings,
        request=Request({"type": "http", "headers": [], "client": None}),
        response=None,
        request_id="t",
    )
    stream = await schema.subscribe(
        "subscription { inventoryChanged { eventId } }", context_value=context
    )
    result = await anext(stream)
    assert result.errors
    assert result.errors[0].message == "authentication required"
    assert result.errors[0].extensions["code"] == "UNAUTHENTICATED"
