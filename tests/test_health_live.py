"""Typed machine events on the live view: published after the commit, one per change, with
typed details (no JSON scalar), filtered by kind and scoped like every subscription."""

from __future__ import annotations

import itertools
import uuid

from models.identity import Role
from tests.factories import REPORT, Factory, heartbeat, message
from tests.live_flow import field_of
from tests.live_support import LiveClient, clients, graphql_post
from tests.servers import ApiServer

MACHINE_EVENTS = """
subscription($kinds: [MachineEventKind!], $machineIds: [ID!]) {
  machineEvents(kinds: $kinds, machineIds: $machineIds) {
    type kind sequence machineId at
    connectivityChanged { previous connectivity }
    statusChanged { previous status code modules { module status } }
    unitStatusChanged { unit purpose previous status }
    errorRaised { code category module recovering }
    doorChanged { door previous state operatorId }
  }
}
"""


async def report(server: ApiServer, tenant, messages: list[dict]) -> dict:
    data = await graphql_post(
        server.http_url,
        REPORT,
        {"input": {"machineId": tenant.machine_id, "messages": messages}},
        api_key=tenant.api_key,
    )
    return data["reportMachineTelemetry"]


async def live_status_subscription(server: ApiServer, tenant, client: LiveClient, seqs) -> None:
    """Report status changes until the subscription delivers one (it is live then)."""
    for attempt in range(50):
        await report(server, tenant, [message("STATUS", next(seqs), status={"code": attempt % 2})])
        try:
            await client.next_data(timeout=0.5)
            return
        except TimeoutError:
            continue
    raise AssertionError("the subscription never became live")


async def test_machine_events_arrive_typed_and_filtered_by_kind(
    fuzz_server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant()
    seqs = itertools.count(1)
    auth = {"authorization": f"Bearer {tenant.admin_token}"}
    client = await LiveClient.open(fuzz_server.ws_url, auth)
    async with clients(client):
        kinds = ["STATUS_CHANGED", "UNIT_STATUS_CHANGED", "ERROR_RAISED", "DOOR_CHANGED"]
        await client.subscribe(MACHINE_EVENTS, {"kinds": kinds})
        await live_status_subscription(fuzz_server, tenant, client, seqs)
        while True:  # drain what the warm-up left
            try:
                await client.next_data(timeout=0.3)
            except TimeoutError:
                break
        await report(
            fuzz_server,
            tenant,
            [
                heartbeat(next(seqs), event_id=uuid.uuid4().hex),  # no event
                message(
                    "STATUS",
                    next(seqs),
                    status={"code": 13, "modules": [{"module": 1, "code": 9200}]},
                ),
                message(
                    "UNITS",
                    next(seqs),
                    units=[{"number": 4, "purpose": "COLLECTION_BOX", "statusCode": 4}],
                ),
                message("ERROR", next(seqs), error={"code": "NOTE_JAM", "module": 1}),
                message(
                    "DOOR",
                    next(seqs),
                    door={"door": "FRONT", "state": "OPENED", "operatorId": "op-1"},
                ),
            ],
        )
        events = [field_of(await client.next_data()) for _ in range(4)]
    assert [e["kind"] for e in events] == kinds
    assert all(e["type"] == "MACHINE_EVENT" and e["machineId"] == tenant.machine_id for e in events)
    numbers = [e["sequence"] for e in events]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 4
    status, unit, error, door = events
    assert status["statusChanged"]["status"] == "ERROR"
    assert status["statusChanged"]["code"] == 13
    assert status["statusChanged"]["modules"] == [{"module": "NOTE_UNIT", "status": "ERROR"}]
    assert unit["unitStatusChanged"] == {
        "unit": 4,
        "purpose": "COLLECTION_BOX",
        "previous": None,
        "status": "FULL",
    }
    assert error["errorRaised"] == {
        "code": "NOTE_JAM",
        "category": "NOTE_JAM",
        "module": "NOTE_UNIT",
        "recovering": False,
    }
    assert door["doorChanged"] == {
        "door": "FRONT",
        "previous": None,
        "state": "OPENED",
        "operatorId": "op-1",
    }
    assert door["statusChanged"] is None
    assert door["at"] is not None


async def test_a_subscriber_gets_no_machine_events_of_a_shop_outside_their_scope(
    fuzz_server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant(shops=2)
    _, token = await factory.user(tenant, Role.SHOP_MANAGER, [1])
    seqs = itertools.count(1)
    outsider = await LiveClient.open(fuzz_server.ws_url, {"authorization": f"Bearer {token}"})
    insider = await LiveClient.open(
        fuzz_server.ws_url, {"authorization": f"Bearer {tenant.admin_token}"}
    )
    async with clients(outsider, insider):
        await outsider.subscribe(MACHINE_EVENTS, {"machineIds": [tenant.machine_id]})
        await insider.subscribe(MACHINE_EVENTS, {"machineIds": [tenant.machine_id]})
        await live_status_subscription(fuzz_server, tenant, insider, seqs)
        try:
            leaked = await outsider.next_data(timeout=1.0)
        except TimeoutError:
            leaked = None
    assert leaked is None
