"""The per-request context: settings, the authenticated principal, loaders, request id."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from auth.errors import AuthenticationError, PublicError
from auth.principal import Principal, authenticate_api_key, authenticate_bearer
from config import Settings
from graph.loaders import Loaders
from graph.ws_auth import Credential, authenticate_credential


@dataclass
class Context:
    """`principal` is None for anonymous callers; `auth_error` keeps why credentials that were
    sent did not authenticate, so the authorization check can report it.

    On a WebSocket the context lives as long as the connection: `credential` (from
    `connection_init`) and `auth_expires_at` let long-lived subscriptions end when the token
    expires and re-check the credential every `live_reauth_seconds`.
    """

    settings: Settings
    request: Request | WebSocket
    response: Any
    request_id: str
    principal: Principal | None = None
    auth_error: PublicError | None = None
    connection_params: dict[str, Any] | None = None
    credential: Credential | None = None
    auth_expires_at: datetime | None = None
    auth_checked_at: float = 0.0
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self)

    def credential_expired(self) -> bool:
        return self.auth_expires_at is not None and self.auth_expires_at <= datetime.now(UTC)

    def seconds_until_auth_check(self) -> float:
        """Until the token expires or the credential is due for its periodic re-check."""
        if self.credential is None:
            due = self.settings.live_reauth_seconds
        else:
            due = self.auth_checked_at + self.settings.live_reauth_seconds - time.monotonic()
        if self.auth_expires_at is not None:
            due = min(due, (self.auth_expires_at - datetime.now(UTC)).total_seconds())
        return due

    async def check_auth(self) -> None:
        """Raise AuthenticationError once the connection's credential is no longer valid."""
        if self.credential_expired():
            raise AuthenticationError("access token expired")
        if self.credential is None:
            self.require_principal()
            return
        if time.monotonic() - self.auth_checked_at < self.settings.live_reauth_seconds:
            return
        self.principal, self.auth_expires_at = await authenticate_credential(
            self.credential, settings=self.settings
        )
        self.auth_checked_at = time.monotonic()

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or AuthenticationError("authentication required")
        return self.principal


Info = StrawberryInfo[Context, None]


async def build_context(
    request: Request | WebSocket, response: Any, *, settings: Settings
) -> Context:
    """Resolve the caller once: a Bearer access token or an `X-API-Key` header."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    ctx = Context(settings=settings, request=request, response=response, request_id=request_id)
    authorization = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key")
    try:
        if authorization.lower().startswith("bearer "):
            ctx.principal = await authenticate_bearer(authorization[7:].strip(), settings=settings)
        elif api_key:
            ctx.principal = await authenticate_api_key(api_key, settings=settings)
    except PublicError as exc:
        ctx.auth_error = exc
    return ctx
