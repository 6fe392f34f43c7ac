"""A graphql-transport-ws probe for the fuzz suite: send one frame, then wait (on conditions,
with a timeout) until the server has plainly dealt with it, and list what was wrong.

The server has dealt with a frame when it answered a `ping` sent after it (frames are handled
in order), or closed the socket; for a `subscribe`, also when the operation answered (error,
next, complete) or became a live subscription (the server's `/healthz` subscriber count rose).
Wrong is: a close code outside DOCUMENTED_CLOSE_CODES (1006 means no close frame at all, 1011
an internal error), no answer within SETTLE_TIMEOUT_SECONDS, a frame that is not JSON, and
any error that fails the checks of tests/fuzz_support.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fuzz_support import error_problems, result_problems
from tests.live_support import PROTOCOL

SETTLE_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05
# docs/live.md and the graphql-transport-ws protocol: 4400 bad message, 4401 subscribe before
# the ack, 4403 refused credential, 4408 no connection_init in time, 4409 duplicate operation
# id, 4429 second connection_init, 4008 slow consumer.
DOCUMENTED_CLOSE_CODES = frozenset({4400, 4401, 4403, 4408, 4409, 4429, 4008})


@dataclass
class WsProbe:
    """One WebSocket connection under fuzz and the problems seen on it."""

    ws: ClientConnection
    http: httpx.AsyncClient
    baseline: int = 0
    problems: list[str] = field(default_factory=list)
    close_code: int | None = None
    closed: bool = False

    @classmethod
    async def open(cls, ws_url: str, base_url: str) -> WsProbe:
        ws = await connect(ws_url, subprotocols=[PROTOCOL], proxy=None, open_timeout=10)
        probe = cls(ws, httpx.AsyncClient(base_url=base_url, timeout=5, trust_env=False))
        probe.baseline = await probe.live_subscribers()
        return probe

    async def init(self, params: dict[str, Any]) -> None:
        """connection_init; the server must ack (the probe's callers are valid)."""
        await self.ws.send(json.dumps({"type": "connection_init", "payload": params}))
        message = await self._next(SETTLE_TIMEOUT_SECONDS)
        assert message is not None, self.problems
        assert message.get("type") == "connection_ack", message

    async def send_and_settle(self, frame: str | bytes, *, operation_id: Any = None) -> None:
        """Send `frame`, then wait until the server dealt with it (see the module doc); pass
        the `id` of a subscribe frame as `operation_id`."""
        before = await self.live_subscribers()
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame)
            await self.ws.send(json.dumps({"type": "ping"}))
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        ponged = operation_done = False
        while not self.closed and time.monotonic() < deadline:
            message = await self._next(POLL_SECONDS)
            if message is not None:
                ponged = ponged or message.get("type") == "pong"
                operation_done = operation_done or (
                    operation_id is not None and message.get("id") == operation_id
                )
            elif operation_id is not None and ponged:
                operation_done = await self.live_subscribers() > before
            if ponged and (operation_id is None or operation_done):
                return
        if not self.closed:
            self.problems.append(f"no answer within {SETTLE_TIMEOUT_SECONDS} s")

    async def _next(self, timeout: float) -> dict[str, Any] | None:
        """The next message (checked), or None on timeout or close (recorded)."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            self._closed(exc)
            return None
        try:
            message = json.loads(raw)
        except ValueError:
            self.problems.append(f"frame is not JSON: {raw!r:.200}")
            return None
        if not isinstance(message, dict):
            self.problems.append(f"frame is not an object: {message!r:.200}")
            return None
        if message.get("type") == "error":
            self.problems += error_problems(message.get("payload"))
        elif message.get("type") == "next":
            self.problems += result_problems(message.get("payload"))
        return message

    def _closed(self, exc: ConnectionClosed) -> None:
        self.closed = True
        self.close_code = exc.rcvd.code if exc.rcvd else None
        if self.close_code not in DOCUMENTED_CLOSE_CODES:
            received = f"{exc.rcvd.code} {exc.rcvd.reason!r}" if exc.rcvd else "no close frame"
            self.problems.append(f"closed with {received} (sent: {exc.sent})")

    async def live_subscribers(self) -> int:
        response = await self.http.get("/healthz")
        return int(response.json()["liveSubscribers"])

    async def close(self) -> None:
        """Close and wait until the server has dropped this connection's subscriptions, so the
        next connection's subscriber count starts from a settled baseline. A subscriber that
        never goes (one the hub leaked) stays in the next baseline."""
        await self.ws.close()
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        while await self.live_subscribers() > self.baseline and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
        await self.http.aclose()
