"""Root Subscription fields: the live view over graphql-transport-ws.

Each field narrows the caller's scope to the requested shops/machines (never wider), streams the
matching envelopes of the caller's organization and translates them. Every subscription also
receives GAP events. A subscriber that falls behind is disconnected with close code 4008; a
subscription ends with an UNAUTHENTICATED error when the connection's token expires or its
credential stops being valid (checked every LIVE_REAUTH_SECONDS, and before delivering an
event when the last check is older than graph.ws_auth.REVOCATION_BOUND_SECONDS).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable

import strawberry
from starlette.websockets import WebSocket

from auth.errors import PermissionDenied
from graph.alerts.types import AlertChangedEvent
from graph.context import Context, Info
from graph.enums import EventType, MachineEventKind
from graph.framework import shared_frame
from graph.live.types import InventoryChangedEvent, MachineEventType, TransactionsIngestedEvent
from graph.ws_auth import REVOCATION_BOUND_SECONDS
from infra.live.envelope import Envelope
from infra.live.hub import LiveSubscriber
from infra.live.stream import live_events
from resolvers.ids import parse_object_ids

log = logging.getLogger(__name__)

SLOW_CONSUMER_CLOSE_CODE = 4008
_closing: set[asyncio.Task] = set()
_closing_sockets: set[int] = set()


def _close_slow_consumer(context: Context) -> Callable[[LiveSubscriber], None]:
    def close(sub: LiveSubscriber) -> None:
        websocket = context.request
        if not isinstance(websocket, WebSocket) or id(websocket) in _closing_sockets:
            return  # several subscriptions of one socket may overflow together: close once
        _closing_sockets.add(id(websocket))
        reason = (
            f"slow consumer: more than {sub.queue.maxsize} live events pending; "
            "reconnect and re-query"
        )
        log.warning("live: disconnecting slow consumer (request %s)", context.request_id)

        async def _close() -> None:
            try:
                await websocket.close(code=SLOW_CONSUMER_CLOSE_CODE, reason=reason)
            except Exception as exc:  # already closed by the client or the server
                log.debug("live: close after overflow failed: %s", exc)
            finally:
                _closing_sockets.discard(id(websocket))

        task = asyncio.create_task(_close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    return close


async def _stream(
    info: Info,
    event_type: EventType,
    shop_ids: list[strawberry.ID] | None,
    machine_ids: list[strawberry.ID] | None,
    keep: Callable[[Envelope], bool] | None = None,
) -> AsyncGenerator[Envelope, None]:
    """The envelopes of `event_type` (and GAPs) in the caller's scope narrowed to the shops
    and machines asked for, that `keep` accepts and that were not already sent as a shared
    frame (`sent_directly`); the subscription yields each as its event type."""
    async for env in _scoped_events(info, frozenset({event_type}), shop_ids, machine_ids):
        if keep is not None and not keep(env):
            continue
        if not await sent_directly(info, env):
            yield env


async def _scoped_events(
    info: Info,
    types: frozenset[EventType],
    shop_ids: list[strawberry.ID] | None,
    machine_ids: list[strawberry.ID] | None,
) -> AsyncGenerator[Envelope, None]:
    context = info.context
    principal = context.require_principal()
    granted = principal.scope

    async def check(max_age: float | None = None) -> None:
        await context.check_auth(max_age=max_age)
        if context.require_principal().scope != granted:
            raise PermissionDenied("your access changed; subscribe again")

    scope = granted.narrowed(
        shop_ids=parse_object_ids(shop_ids), machine_ids=parse_object_ids(machine_ids)
    )
    async for env in live_events(
        scope=scope,
        types=types,
        seconds_until_check=context.seconds_until_auth_check,
        check=check,
        on_overflow=_close_slow_consumer(context),
    ):
        # Events are what a revoked key or ended session must stop getting: before one is
        # delivered, the credential is re-read if its last check is older than the bound, so
        # revocation reaches open subscriptions within it too (idle ones need no reads).
        await check(REVOCATION_BOUND_SECONDS)
        yield env


async def sent_directly(info: Info, env: Envelope) -> bool:
    """Send the event's already encoded `next` frame, if another local subscriber with the
    same query executed it (graph.live_execution); False: go through Strawberry."""
    raw = info._raw_info
    frame = shared_frame(env, raw.operation, raw.variable_values)
    websocket = info.context.request
    if frame is None or not isinstance(websocket, WebSocket):
        return False
    await websocket.send_text(frame)
    return True


def _events_of(event_type: EventType) -> Callable[..., AsyncGenerator[Envelope, None]]:
    """The resolver of a subscription to `event_type`, in the caller's scope narrowed to the
    shops and machines asked for."""

    async def subscribe(
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
    ) -> AsyncGenerator[Envelope, None]:
        async for env in _stream(info, event_type, shop_ids, machine_ids):
            yield env

    return subscribe


async def _machine_events(
    info: Info,
    shop_ids: list[strawberry.ID] | None = None,
    machine_ids: list[strawberry.ID] | None = None,
    kinds: list[MachineEventKind] | None = None,
) -> AsyncGenerator[Envelope, None]:
    wanted = frozenset(k.value for k in kinds) if kinds else None

    def keep(env: Envelope) -> bool:
        return wanted is None or env.type is EventType.GAP or env.payload.get("kind") in wanted

    async for env in _stream(info, EventType.MACHINE_EVENT, shop_ids, machine_ids, keep):
        yield env


@strawberry.type
class LiveSubscriptions:
    """Each field yields envelopes; Strawberry reads each as the field's `graphql_type`
    (graph.live.types, graph.alerts.types)."""

    inventory_changed = strawberry.subscription(
        resolver=_events_of(EventType.INVENTORY_CHANGED),
        graphql_type=InventoryChangedEvent,
        description="The machine's new per-denomination counts and totals after each change.",
    )
    transactions_ingested = strawberry.subscription(
        resolver=_events_of(EventType.TRANSACTIONS_INGESTED),
        graphql_type=TransactionsIngestedEvent,
        description="A summary per accepted ingest batch: counts and amounts by type and the "
        "machine's new inventory value.",
    )
    machine_events = strawberry.subscription(
        resolver=_machine_events,
        graphql_type=MachineEventType,
        description="Typed changes of machines: connectivity, status, units, errors, doors, "
        "suspect notes; optionally only some `kinds`.",
    )
    alerts_changed = strawberry.subscription(
        resolver=_events_of(EventType.ALERT_CHANGED),
        graphql_type=AlertChangedEvent,
        description="Every transition of an alert in scope (PENDING, FIRING, ACKNOWLEDGED, "
        "RESOLVED, flapping, notified after a silence): one event per transition.",
    )
