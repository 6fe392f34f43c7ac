"""Real processes for the live-view tests and the benchmark: redis-server, uvicorn workers, and
a graphql-transport-ws client on the `websockets` library.

Everything waits on conditions with timeouts (readiness polls, message waits), never on fixed
sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers import free_port, wait_ready, wait_until

PROTOCOL = "graphql-transport-ws"
READY_TIMEOUT = 30.0


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class RedisServer:
    """A throw-away redis-server (no persistence) on a fixed port, restartable in place."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: the live-view tests need it "
                "(Debian/Ubuntu: apt-get install -y redis-server)"
            )
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cashcc-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(
            self.process,
            self._answers_ping,
            timeout=READY_TIMEOUT,
            name="redis-server",
        )

    def _answers_ping(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 0.2) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        """SIGKILL, like a crash: clients see their connections drop."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        wait_until(lambda: not _port_open(self.port), timeout=10, what="redis port to close")

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class ProtocolError(AssertionError):
    pass


class LiveClient:
    """A graphql-transport-ws client: connection_init, subscribe, and typed waits."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls, url: str, params: dict[str, Any] | None, *, timeout: float = 10.0, **kwargs: Any
    ) -> LiveClient:
        """Connect and send connection_init; returns after connection_ack."""
        ws = await connect(url, subprotocols=[PROTOCOL], proxy=None, open_timeout=timeout, **kwargs)
        client = cls(ws)
        await ws.send(json.dumps({"type": "connection_init", "payload": params or {}}))
        ack = await client.receive(timeout)
        if ack.get("type") != "connection_ack":
            raise ProtocolError(f"expected connection_ack, got {ack}")
        return client

    async def receive(self, timeout: float) -> dict[str, Any]:
        """The next protocol message (pings are answered and skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("type") == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                return message

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, op_id: str | None = None
    ) -> str:
        op_id = op_id or uuid.uuid4().hex[:8]
        await self.ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return op_id

    async def next_data(self, timeout: float = 10.0) -> dict[str, Any]:
        """The `data` of the next `next` message; fails on errors, complete or close."""
        message = await self.receive(timeout)
        if message.get("type") != "next" or message["payload"].get("errors"):
            raise ProtocolError(f"expected data, got {message}")
        return message["payload"]["data"]

    async def close_code(self, timeout: float = 10.0) -> tuple[int | None, str | None]:
        """Read until the server closes; returns the close code and reason it sent."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as exc:
            return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.ws.close()


@contextlib.asynccontextmanager
async def clients(*opened: LiveClient) -> AsyncIterator[None]:
    """Closes the opened clients when the block ends, however it ends."""
    try:
        yield
    finally:
        for client in opened:
            await client.close()


async def graphql_post(
    base_url: str,
    query: str,
    variables: dict[str, Any],
    *,
    api_key: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {}
    if api_key:
        headers["X-API-Key"] = api_key
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]
