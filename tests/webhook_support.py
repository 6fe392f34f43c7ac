"""Real webhook receivers on loopback, and helpers to register webhooks, enqueue deliveries
the way the alerts engine does (inside a transaction), drive the worker's clock, and run the
signature check exactly as docs/alerts.md prints it."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bson import ObjectId

from auth.principal import principal_for_user
from config import Settings
from models.db import get_database
from models.organization import utcnow
from models.webhooks import WebhookDelivery, WebhookEvent
from resolvers.webhooks.outbox import enqueue_deliveries
from resolvers.webhooks.webhooks import IssuedSecret, create_webhook
from tests.factories import Tenant
from tests.servers import REPO, eventually
from tests.tls_support import self_signed

ALL_EVENTS = [WebhookEvent.FIRING, WebhookEvent.ACKNOWLEDGED, WebhookEvent.RESOLVED]


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers["cashcc-delivery"]


# What the receiver answers: (status, body, extra headers); `stall` holds the request open
# until the connection dies or `Receiver.release()`.
Reply = tuple[int, bytes, dict[str, str]]
OK: Reply = (200, b"ok", {})


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1; `answer(index, request)` decides each reply
    (`index` counts requests from 0), `None` stalls the request."""

    answer: Callable[[int, Received], Reply | None] = lambda index, request: OK
    ssl_context: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def release(self) -> None:
        self._released.set()

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def ids(self) -> list[str]:
        with self._lock:
            return [r.delivery_id for r in self.received]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with receiver._lock:
                    index = len(receiver.received)
                    receiver.received.append(request)
                reply = receiver.answer(index, request)
                if reply is None:
                    receiver._released.wait(60)
                    return
                status, body, headers = reply
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.ssl_context is not None:
            context = self.ssl_context

            def remember_name(sock: ssl.SSLObject, name: str | None, _: Any) -> None:
                receiver.server_names.append(name)

            context.sni_callback = remember_name  # type: ignore[assignment]
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    async def wait_for(self, count: int, *, timeout: float = 20.0) -> list[Received]:
        async def enough() -> bool:
            return self.count() >= count

        await eventually(enough, timeout=timeout, what=f"{count} requests at the receiver")
        with self._lock:
            return list(self.received)


@contextlib.contextmanager
def receiver(
    answer: Callable[[int, Received], Reply | None] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[Receiver]:
    found = Receiver(ssl_context=ssl_context)
    if answer is not None:
        found.answer = answer
    found.start()
    try:
        yield found
    finally:
        found.stop()


def private_settings(settings: Settings, **changes: Any) -> Settings:
    """The test settings with loopback receivers allowed (WEBHOOK_ALLOW_PRIVATE=true)."""
    return settings.model_copy(update={"webhook_allow_private": True, **changes})


async def register(
    tenant: Tenant,
    url: str,
    *,
    settings: Settings,
    events: list[WebhookEvent] | None = None,
    shop_ids: list[str] | None = None,
) -> IssuedSecret:
    return await create_webhook(
        principal=principal_for_user(tenant.admin),
        url=url,
        events=events or ALL_EVENTS,
        shop_ids=shop_ids,
        settings=settings,
    )


async def enqueue(
    tenant: Tenant,
    *,
    event: WebhookEvent = WebhookEvent.FIRING,
    incident_id: ObjectId | None = None,
    transition: int = 1,
    shop_id: ObjectId | None = None,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    incidents: int = 1,
) -> int:
    """What the alerts engine does when it records a transition: enqueue in a transaction
    (`incidents` > 1: that many incidents' transitions in one transaction)."""
    ids = [incident_id or ObjectId() for _ in range(incidents)]

    async def work(session: Any) -> int:
        enqueued = 0
        for incident in ids:
            enqueued += await enqueue_deliveries(
                session=session,
                org_id=tenant.org.id,
                shop_id=shop_id,
                event=event,
                incident_id=incident,
                transition=transition,
                payload=payload or {"id": str(incident), "rule": "NOTE_JAM", "state": event.value},
                now=now or utcnow(),
            )
        return enqueued

    return await get_database().in_transaction(work)


@dataclass
class ManualClock:
    """The worker's clock in tests: starts at the real time, moves only when told."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@cache
def documented_verify() -> Callable[..., bool]:
    """`verify` from the Python block under "### Verifying a delivery" in docs/alerts.md,
    run as printed: the snippet receivers copy is the one the tests check."""
    text = (REPO / "docs" / "alerts.md").read_text()
    section = text[text.index("### Verifying a delivery") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "docs/alerts.md: no python block under 'Verifying a delivery'"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "docs/alerts.md", "exec"), namespace)
    return namespace["verify"]


def tls_pair(folder: Any, names: tuple[str, ...]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A receiver's TLS context with a certificate for `names` (and 127.0.0.1), and a
    client context that trusts exactly that certificate."""
    cert, key = self_signed(folder, names=names)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


async def stored_deliveries(tenant: Tenant) -> list[dict[str, Any]]:
    """The tenant's outbox rows as stored, oldest first."""
    cursor = WebhookDelivery.get_pymongo_collection().find({"org_id": tenant.org.id})
    return await cursor.sort([("created_at", 1), ("_id", 1)]).to_list(length=None)
