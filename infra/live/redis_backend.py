"""A Redis pub/sub backend for `broadcaster` that survives Redis restarts.

broadcaster 0.3.1's own Redis backend does not reconnect (its listener dies with the
connection) and misses the first subscription after `connect()` (the listener starts before the
first SUBSCRIBE and goes back to waiting). This backend owns its listener loop instead:

- `subscribe` returns once Redis has confirmed the subscription (or after a short timeout
  while Redis is unreachable), so an event published afterwards is delivered;
- on any connection error the listener drops the connection, retries with backoff, subscribes
  to every channel again and, once Redis has confirmed those subscriptions, queues a GAP
  envelope on each channel, so subscribers learn that events published during the outage may
  be lost and re-query (every event published after the GAP is delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from redis import asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from infra.live.envelope import gap_envelope, org_of_channel

log = logging.getLogger(__name__)

SUBSCRIBE_CONFIRM_TIMEOUT = 2.0
POLL_SECONDS = 1.0
MIN_BACKOFF, MAX_BACKOFF = 0.05, 1.0
GAP_REASON = "fan-out backend connection was lost and restored; events may have been missed"


class ResilientRedisBackend(BroadcastBackend):
    """Redis pub/sub with reconnect, resubscribe and gap notification (see module doc)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._publisher = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._channels: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._pubsub: Any = None
        self._subscriber_client: redis.Redis | None = None
        self._lost = False
        self._gap_pending = False
        self._listener: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def connect(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="live-redis-listener")

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._close_pubsub()
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        confirmed = self._confirmed.setdefault(channel, asyncio.Event())
        self._channels.add(channel)
        if self._pubsub is not None:
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError) as exc:  # the listener reconnects and resubscribes
                log.warning("live: SUBSCRIBE %s failed: %s", channel, exc)
        self._wake.set()
        try:
            await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_CONFIRM_TIMEOUT)
        except TimeoutError:
            log.warning("live: Redis has not confirmed the subscription to %s yet", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._confirmed.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _open(self) -> None:
        # No retries inside redis-py: a lost connection must surface here so that the gap is
        # reported; this loop does the reconnecting.
        client = redis.Redis.from_url(
            self._url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        pubsub = client.pubsub()
        try:
            if self._channels:
                await pubsub.subscribe(*sorted(self._channels))
            else:
                await pubsub.ping()
        except BaseException:
            await pubsub.aclose()
            await client.aclose()
            raise
        self._subscriber_client, self._pubsub = client, pubsub

    async def _close_pubsub(self) -> None:
        pubsub, client = self._pubsub, self._subscriber_client
        self._pubsub = self._subscriber_client = None
        for closing in (pubsub, client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.aclose()

    def _maybe_report_gap(self) -> None:
        if self._gap_pending and all(
            c in self._confirmed and self._confirmed[c].is_set() for c in self._channels
        ):
            self._gap_pending = False
            self._report_gap()

    def _report_gap(self) -> None:
        for channel in sorted(self._channels):
            org = org_of_channel(channel)
            if org is not None:
                self._queue.put_nowait(Event(channel, gap_envelope(org, GAP_REASON).to_json()))

    async def _listen(self) -> None:
        backoff = MIN_BACKOFF
        while True:
            try:
                if self._pubsub is None:
                    await self._open()
                    if self._lost:
                        self.reconnects += 1
                        log.warning("live: Redis connection restored; reporting a gap")
                        # Reported once Redis confirms the resubscriptions, so every event
                        # after the GAP is delivered.
                        self._gap_pending = True
                        self._lost = False
                        self._maybe_report_gap()
                    backoff = MIN_BACKOFF
                if not self._pubsub.subscribed:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                    continue
                message = await self._pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None:
                    self._handle(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not self._lost:
                    log.warning("live: Redis connection lost (%s); reconnecting", exc)
                self._lost = True
                for confirmed in self._confirmed.values():
                    confirmed.clear()
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if kind == "message":
            data = message["data"]
            self._queue.put_nowait(
                Event(channel, data.decode() if isinstance(data, bytes) else data)
            )
        elif kind == "subscribe" and channel in self._confirmed:
            self._confirmed[channel].set()
            self._maybe_report_gap()
