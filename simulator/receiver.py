"""A webhook receiver on loopback for `cashcc simulate --faults`: takes the cloud's signed
deliveries, verifies each signature the documented way (docs/alerts.md, "Verifying a
delivery") and keeps what arrived, keyed by delivery id (delivery is at least once)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from simulator.proxy import read_message

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
REFUSED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """True when `header` (Cashcc-Signature) signs `body` with `secret` and was made at most
    `tolerance` seconds from now."""
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        return False
    if abs(time.time() - int(stamps[0])) > tolerance:
        return False
    signed = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
    return any(
        key == "v1" and hmac.compare_digest(value.encode(), expected) for key, _, value in fields
    )


@dataclass
class Delivery:
    id: str
    type: str
    incident: dict[str, Any]
    arrivals: int = 1


@dataclass
class WebhookReceiver:
    """Listens on 127.0.0.1 (`url` after `start()`); set `secret` before deliveries come."""

    secret: str = ""
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    bad_signatures: int = 0
    port: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cashcc-webhook"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await read_message(reader)
            if raw is None:
                return
            head, _, body = raw.partition(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode()] = value.strip().decode()
            signature = headers.get("cashcc-signature", "")
            if not verify_signature(self.secret, signature, body):
                self.bad_signatures += 1
                writer.write(REFUSED)
                return
            document = json.loads(body)
            known = self.deliveries.get(document["id"])
            if known is not None:
                known.arrivals += 1
            else:
                self.deliveries[document["id"]] = Delivery(
                    document["id"], document["type"], document["incident"]
                )
            self.changed.set()
            writer.write(OK)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
