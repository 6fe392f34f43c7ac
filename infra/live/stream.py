"""The server side of one live subscription: a scoped, bounded stream of envelopes that ends
when the subscriber's credentials stop being valid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from auth.errors import PublicError, RequestErrorCode
from infra.live.envelope import Envelope, EventType
from infra.live.hub import LiveSubscriber, get_hub
from models.scope import Scope


class LiveUnavailable(PublicError):
    code = RequestErrorCode.UNAVAILABLE


async def live_events(
    *,
    scope: Scope,
    types: frozenset[EventType],
    seconds_until_check: Callable[[], float],
    check: Callable[[], Awaitable[None]],
    on_overflow: Callable[[LiveSubscriber], None] | None = None,
) -> AsyncIterator[Envelope]:
    """Envelopes of `types` inside `scope` (the caller's scope, already narrowed to what was
    asked for), plus GAP notices, in publication order.

    `check()` runs whenever `seconds_until_check()` says it is due (token expiry, periodic
    re-authentication) and ends the stream by raising. Closing the generator (client
    disconnect, `complete`) unsubscribes at once.
    """
    hub = get_hub()
    if hub is None:
        raise LiveUnavailable("the live view is not available on this server", retryable=True)
    await check()
    async with hub.subscribe(scope=scope, types=types, on_overflow=on_overflow) as sub:
        while True:
            wait = seconds_until_check()
            if wait <= 0:
                await check()
                continue
            try:
                async with asyncio.timeout(wait):
                    env = await sub.next()
            except TimeoutError:
                continue  # the next round runs the check that is now due
            yield env
