"""One log line per HTTP request and per WebSocket connection: request id, operation(s),
principal kind and id (never a secret or token), outcome, status and latency.

`LOG_FORMAT=json` writes one JSON object per line (the default in production); `console`
writes `key=value` pairs. The request id comes from `X-Request-Id` when it is short and plain
(nginx sets it); otherwise a new one is made, and the GraphQL context and the response use the
same value.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from graph.http import request_id_for

log = logging.getLogger("cashcc.request")
STATE_KEY = "cashcc_request"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def configure_logging(settings: Settings) -> None:
    """Give the `cashcc` loggers a handler in the chosen format, unless the process has
    configured logging itself (the CLI, pytest)."""
    logger = logging.getLogger("cashcc")
    if logging.getLogger().handlers or any(getattr(h, "_cashcc", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler._cashcc = True  # type: ignore[attr-defined]
    json_format = settings.effective_log_format == "json"
    handler.setFormatter(JsonFormatter() if json_format else ConsoleFormatter())
    logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())


def note(state: dict[str, Any], **fields: Any) -> None:
    """Add fields to the current request's log line (`state` is the request's ASGI state)."""
    state.setdefault(STATE_KEY, {}).update(fields)


class RequestLog:
    """ASGI middleware: fixes the request id (every HTTP response carries it as
    `X-Request-Id`), then logs the request once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope).encode()
        headers = [(k, v) for k, v in scope.get("headers", []) if k != b"x-request-id"]
        scope = {**scope, "headers": [*headers, (b"x-request-id", request_id)]}
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"x-request-id", request_id)]}
            elif message["type"] == "websocket.close" and status is None:
                status = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            fields = {
                "request_id": request_id.decode(),
                "method": scope.get("method", "WS"),
                "path": scope.get("path"),
                "status": status,
                **state.get(STATE_KEY, {}),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            log.info("request", extra={"fields": fields})
