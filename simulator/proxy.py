"""A small local HTTP/1.1 proxy that makes the network misbehave on purpose.

Per request it picks one fault (or none) with the configured probabilities:
- `drop`: the connection is closed before the request reaches the server;
- `reset`: the server applies the request, the answer is lost (connection closed);
- `stall`: nothing happens until the client's timeout fires;
- `duplicate`: the request reaches the server twice at once; the client sees one answer.
It understands just enough HTTP (Content-Length and chunked bodies) to tell requests apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from dataclasses import dataclass

FAULTS = ("drop", "reset", "stall", "duplicate")
MACHINE_ID = re.compile(rb'"machineId":\s*"([0-9a-f]{24})"')


@dataclass
class FaultRates:
    """Probability of each fault per request (the rest pass through untouched)."""

    drop: float = 0.0
    reset: float = 0.0
    stall: float = 0.0
    duplicate: float = 0.0
    stall_seconds: float = 6.0

    @classmethod
    def flaky(cls, *, stall_seconds: float = 6.0) -> FaultRates:
        """A bad 4G link: about one request in four misbehaves."""
        return cls(drop=0.08, reset=0.08, stall=0.03, duplicate=0.06, stall_seconds=stall_seconds)


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message as raw bytes, or None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ConnectionError("truncated HTTP head") from exc
        return None
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            body += await reader.readexactly(size + 2)
            if size == 0:
                break
        return head + bytes(body)
    length = int(headers.get(b"content-length", b"0"))
    return head + await reader.readexactly(length)


class FlakyProxy:
    """Listens on 127.0.0.1 (`port` after `start()`) and forwards to the upstream server."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        rates: FaultRates,
        *,
        seed: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rates = rates
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        # (monotonic time, machine id or None) of each stall: which machines waited out a
        # client timeout, and when
        self.stalls: list[tuple[float, str | None]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def _pick(self) -> str | None:
        roll = self.rng.random()
        for fault in FAULTS:
            roll -= getattr(self.rates, fault)
            if roll < 0:
                return fault
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while (request := await read_message(reader)) is not None:
                fault = self._pick()
                self.stats[fault or "passed"] += 1
                if fault == "drop":
                    return
                if fault == "stall":
                    machine = MACHINE_ID.search(request)
                    self.stalls.append(
                        (time.monotonic(), machine.group(1).decode() if machine else None)
                    )
                    await asyncio.sleep(self.rates.stall_seconds)
                    return
                if fault == "duplicate":
                    first, _ = await asyncio.gather(
                        self._forward(request), self._forward(request), return_exceptions=True
                    )
                    if isinstance(first, BaseException):
                        return
                    response = first
                else:
                    response = await self._forward(request)
                if fault == "reset":
                    return
                writer.write(response)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            self.stats["upstream_error"] += 1
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _forward(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            writer.write(request)
            await writer.drain()
            response = await read_message(reader)
            if response is None:
                raise ConnectionError("upstream closed without answering")
            return response
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
