"""The gunicorn worker class: uvicorn's (the maintained `uvicorn-worker` package), with a
short drain before a stopping worker closes its connections.

A worker told to stop (`kill -HUP` retires it, `kill -TERM` stops everything) first stops
accepting connections and, for `DRAIN_SECONDS`, keeps answering requests on the connections it
has, each with `Connection: close`, so a client learns from a response that the connection
ends instead of sending its next request into a socket that is being closed (which would
fail a POST that nobody may retry). Then uvicorn's own graceful shutdown runs: in-flight
requests finish, WebSockets are closed with 1012 (service restart).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

READY_DIR_ENV = "CASHCC_READY_DIR"
DRAIN_SECONDS = 1.0


class DrainingServer(Server):
    """uvicorn's server with the drain described in the module docstring."""

    draining_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.draining_since is None and self.started:
            self.draining_since = time.monotonic()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.draining_since is not None:
            for server in self.servers:
                server.close()  # no new connections; the master's socket stays open
            if time.monotonic() - self.draining_since >= DRAIN_SECONDS:
                return True
        return await super().on_tick(counter)


class CloseWhileDraining:
    """ASGI wrapper: while the server drains, every HTTP response ends its connection."""

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and self.server.draining_since:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, sending)


class ApiWorker(UvicornWorker):
    """uvicorn with the options the API needs behind a proxy. uvicorn's own proxy-header
    handling is off: the application believes `X-Forwarded-For` only from the proxies listed
    in the FORWARDED_ALLOW_IPS setting (graph.app), and from no peer by default.

    uvicorn calls `callback_notify` first right after start-up (the application is loaded,
    connected, and the socket accepts); that is when the worker reports itself serving to
    `cli.gunicorn_app.RollingArbiter`."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "proxy_headers": False,
        "server_header": False,
    }
    _reported_ready = False

    async def _serve(self) -> None:
        server = DrainingServer(config=self.config)
        self.config.app = CloseWhileDraining(self.wsgi, server)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def callback_notify(self) -> None:
        if not self._reported_ready:
            folder = os.environ.get(READY_DIR_ENV)
            if folder:
                (Path(folder) / str(os.getpid())).touch()
            self._reported_ready = True
        self.notify()
