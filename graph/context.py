"""The per-request context: settings, the authenticated principal, loaders, request id."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from auth.errors import AuthenticationError, PublicError
from auth.principal import (
    Principal,
    PrincipalKind,
    authenticate_api_key,
    authenticate_bearer,
    note_api_key_use,
)
from auth.throttle import check_api_key_rate
from config import Settings
from graph.loaders import Loaders
from graph.ws_auth import Credential, recheck_credential
from resolvers.metrics import AUTH_FAILURES


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

    @property
    def client_address(self) -> str | None:
        """The peer address (behind a proxy, uvicorn's --proxy-headers sets it from
        X-Forwarded-For for trusted proxies only)."""
        client = self.request.client
        return client.host if client else None

    async def after_operation(self) -> None:
        """Bookkeeping that must not delay or fail the operation (API key last use)."""
        if self.principal is not None and self.principal.kind is PrincipalKind.API_KEY:
            await note_api_key_use(self.principal)

    def log_fields(self, operations: list[tuple[str, str]]) -> dict[str, Any]:
        """What the request log says about this request: operations and outcomes, and who
        called (kind and id only)."""
        principal = self.principal
        return {
            "operation": ",".join(name for name, _ in operations) or None,
            "outcome": ",".join(outcome for _, outcome in operations) or None,
            "principal": principal.kind.value.lower() if principal else "anonymous",
            "principal_id": str(principal.actor_id) if principal else None,
            "auth_error": self.auth_error.code if self.auth_error else None,
        }

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

    async def check_auth(self, *, max_age: float | None = None) -> None:
        """Raise AuthenticationError once the connection's credential is no longer valid.

        The credential is read again when the last check is older than `max_age` seconds
        (default `live_reauth_seconds`)."""
        if self.credential_expired():
            raise AuthenticationError("access token expired")
        if self.credential is None:
            self.require_principal()
            return
        limit = self.settings.live_reauth_seconds if max_age is None else max_age
        if time.monotonic() - self.auth_checked_at < limit:
            return
        self.principal, self.auth_expires_at, self.auth_checked_at = await recheck_credential(
            self.credential, settings=self.settings, max_age=limit
        )

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or AuthenticationError("authentication required")
        return self.principal


Info = StrawberryInfo[Context, None]
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


async def build_context(
    request: Request | WebSocket, response: Any, *, settings: Settings
) -> Context:
    """Resolve the caller once: a Bearer access token or an `X-API-Key` header.

    An API key call also takes a token from the key's rate-limit bucket; a throttled call
    stays anonymous and every protected field reports the RATE_LIMITED error."""
    offered = request.headers.get("x-request-id", "")
    # A proxy's request id is kept only when it is short and plain (it is echoed and logged).
    request_id = offered if _REQUEST_ID_RE.fullmatch(offered) else uuid.uuid4().hex
    ctx = Context(settings=settings, request=request, response=response, request_id=request_id)
    if not isinstance(request, WebSocket) and hasattr(response, "headers"):
        response.headers["x-request-id"] = request_id
    authorization = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key")
    try:
        if authorization.lower().startswith("bearer "):
            principal = await authenticate_bearer(authorization[7:].strip(), settings=settings)
            ctx.principal = replace(principal, client_address=ctx.client_address)
        elif api_key:
            principal = await authenticate_api_key(api_key, settings=settings)
            await check_api_key_rate(principal, settings=settings)
            ctx.principal = replace(principal, client_address=ctx.client_address)
    except PublicError as exc:
        ctx.auth_error = exc
        kind = "bearer" if authorization else "api_key"
        AUTH_FAILURES.labels(kind="rate_limited" if exc.code == "RATE_LIMITED" else kind).inc()
    return ctx
