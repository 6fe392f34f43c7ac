"""Per-process fan-out of live envelopes to scoped, bounded subscriber queues.

One `broadcaster.Broadcast` per process carries envelopes between processes (memory:// in one
process, redis:// across workers and hosts). Each organization is its own channel; a process
subscribes to an organization's channel while it has at least one local subscriber of that
organization, and one pump task per channel hands each envelope to the local subscribers whose
scope and event types match. Queues are bounded: a subscriber that falls `queue_size` events
behind is dropped (its `on_overflow` callback runs) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from broadcaster import Broadcast
from bson import ObjectId
from bson.errors import InvalidId

from infra.live.envelope import Envelope, EventType, channel_for, org_of_channel
from infra.metrics import LIVE_EVENTS_PUBLISHED, LIVE_SUBSCRIBERS
from models.scope import Scope

log = logging.getLogger(__name__)


class SubscriptionDropped(Exception):
    """The subscriber fell too far behind and was dropped."""


def _object_ids(env: Envelope) -> tuple[ObjectId, ObjectId | None] | bool:
    """(shop, machine) of the envelope, parsed once per process (machine None for a
    shop-level event); False when unusable."""
    try:
        machine = ObjectId(env.machine_id) if env.machine_id is not None else None
        return ObjectId(env.shop_id), machine
    except (InvalidId, TypeError):
        return False


@dataclass(eq=False)
class LiveSubscriber:
    """One subscription: what it may see, what it wants, and its bounded queue."""

    scope: Scope
    types: frozenset[EventType]
    queue: asyncio.Queue[Envelope]
    on_overflow: Callable[[LiveSubscriber], None] | None = None
    consumer: asyncio.Task | None = None
    dropped: bool = False
    delivered: int = field(default=0)

    def wants(self, env: Envelope) -> bool:
        """Org always matches (channels are per org); GAP goes to everyone of the org."""
        if env.type is EventType.GAP:
            return True
        if env.type not in self.types:
            return False
        ids = env.memo.get("ids")
        if ids is None:
            ids = env.memo["ids"] = _object_ids(env)
        if ids is False:
            return False
        shop_id, machine_id = ids
        if machine_id is None:  # shop-level: for whoever sees the whole shop
            return self.scope.allows_shop(shop_id) and self.scope.machine_ids is None
        return self.scope.allows_machine(machine_id, shop_id)

    async def next(self) -> Envelope:
        """The next envelope; raises SubscriptionDropped once the subscriber was dropped."""
        if self.dropped:
            raise SubscriptionDropped()
        env = await self.queue.get()
        self.delivered += 1
        return env


@dataclass(eq=False)
class _Channel:
    subscribers: set[LiveSubscriber] = field(default_factory=set)
    pump: asyncio.Task | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def make_broadcast(url: str) -> Broadcast:
    """A Broadcast for `url`: memory:// as shipped, redis:// with our resilient backend."""
    scheme = urlparse(url).scheme
    if scheme in ("redis", "rediss"):
        from infra.live.redis_backend import ResilientRedisBackend

        return Broadcast(backend=ResilientRedisBackend(url))
    if scheme == "memory":
        return Broadcast(url)
    raise ValueError(f"BROADCAST_URL: unsupported scheme {scheme!r} (use memory:// or redis://)")


class LiveHub:
    """The process's live fan-out. `start()` before use, `stop()` on shutdown."""

    def __init__(self, broadcast: Broadcast, *, queue_size: int) -> None:
        self.broadcast = broadcast
        self.queue_size = queue_size
        self._channels: dict[str, _Channel] = {}
        self._running = False

    async def start(self) -> None:
        await self.broadcast.connect()
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for channel in list(self._channels.values()):
            for sub in list(channel.subscribers):
                self._drop(sub, notify=False)
            if channel.pump is not None:
                channel.pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await channel.pump
        self._channels.clear()
        await self.broadcast.disconnect()

    @property
    def subscriber_count(self) -> int:
        return sum(len(c.subscribers) for c in self._channels.values())

    async def publish(self, env: Envelope) -> None:
        """Send one envelope to its organization's channel (every process sees it)."""
        await self.broadcast.publish(channel_for(env.organization_id), env.to_json())
        LIVE_EVENTS_PUBLISHED.inc()

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        *,
        scope: Scope,
        types: frozenset[EventType],
        on_overflow: Callable[[LiveSubscriber], None] | None = None,
    ) -> AsyncIterator[LiveSubscriber]:
        """Register a subscriber for `scope` (already narrowed to what the caller asked for).

        When the context is entered the channel is live: an envelope published afterwards is
        delivered. On overflow the subscriber is dropped, the task that entered the context is
        cancelled and `on_overflow` runs.
        """
        if not self._running:
            raise RuntimeError("the live hub is not running")
        org = str(scope.org_id)
        sub = LiveSubscriber(
            scope=scope,
            types=types,
            queue=asyncio.Queue(maxsize=self.queue_size),
            on_overflow=on_overflow,
            consumer=asyncio.current_task(),
        )
        channel = self._channels.setdefault(org, _Channel())
        async with channel.lock:
            channel.subscribers.add(sub)
            LIVE_SUBSCRIBERS.inc()
            if channel.pump is None or channel.pump.done():
                channel.ready.clear()
                channel.pump = asyncio.create_task(self._pump(org, channel), name=f"live-{org}")
            pump = channel.pump
        # From here on the subscriber is registered: whatever happens (the socket closing while
        # the channel still starts included), the `finally` below removes it again.
        try:
            ready = asyncio.ensure_future(channel.ready.wait())
            try:
                await asyncio.wait({ready, pump}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
            if pump.done():
                pump.result()
                raise RuntimeError("live channel stopped")
            yield sub
        finally:
            LIVE_SUBSCRIBERS.dec()
            channel.subscribers.discard(sub)
            await self._release(org, channel)

    async def _release(self, org: str, channel: _Channel) -> None:
        async with channel.lock:
            if channel.subscribers or channel.pump is None:
                return
            pump, channel.pump = channel.pump, None
            pump.cancel()
            # Wait for the unsubscribe so a new pump cannot race with it.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            if not channel.subscribers and self._channels.get(org) is channel:
                del self._channels[org]

    async def _pump(self, org: str, channel: _Channel) -> None:
        async with self.broadcast.subscribe(channel_for(org)) as events:
            channel.ready.set()
            async for event in events:  # type: ignore[union-attr]
                if event is None or org_of_channel(event.channel) != org:
                    continue
                try:
                    env = Envelope.from_json(event.message)
                except ValueError as exc:
                    log.warning("live: dropping malformed message on %s: %s", event.channel, exc)
                    continue
                if env.organization_id != org:
                    continue
                self._dispatch(channel, env)

    def _dispatch(self, channel: _Channel, env: Envelope) -> None:
        for sub in list(channel.subscribers):
            if sub.dropped or not sub.wants(env):
                continue
            try:
                sub.queue.put_nowait(env)
            except asyncio.QueueFull:
                self._drop(sub, notify=True)

    def _drop(self, sub: LiveSubscriber, *, notify: bool) -> None:
        if sub.dropped:
            return
        sub.dropped = True
        for channel in self._channels.values():
            channel.subscribers.discard(sub)
        if sub.consumer is not None and not sub.consumer.done():
            sub.consumer.cancel()
        if notify and sub.on_overflow is not None:
            try:
                sub.on_overflow(sub)
            except Exception:
                log.exception("live: on_overflow callback failed")


_hub: LiveHub | None = None


def set_hub(hub: LiveHub | None) -> None:
    """Install (or remove) the process's hub; called by the application's lifespan."""
    global _hub
    _hub = hub


def get_hub() -> LiveHub | None:
    return _hub
