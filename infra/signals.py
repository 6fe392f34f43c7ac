"""In-process wake-ups for background loops: a hint that work may be waiting, never the
source of truth (each loop also runs on its interval and reads what is due from the database).
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Set by writers; a loop waits on it for at most its interval."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def _get(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def set(self) -> None:
        self._get().set()

    async def wait(self, seconds: float) -> None:
        event = self._get()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()


# A twin changed: its machine's alerts are due (resolvers/alerts/evaluator.py).
ALERTS_DUE = Wakeup()

# Webhook deliveries were enqueued: the delivery worker sends them now (resolvers/webhooks/).
DELIVERIES_DUE = Wakeup()
