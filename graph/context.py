"""The per-request context: settings, the authenticated principal, loaders, request id.

`Context.authorize` is the one authorization path of every root field on every transport:
it re-reads a WebSocket's credential when its last check is older than the revocation bound,
applies the permission table, and charges an API key's rate limit per operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from auth.rbac import PERMISSIONS, authorize
from auth.throttle import check_api_key_rate
from config import Settings
from graph.fleet.loaders import FleetLoaders
from graph.health.loaders import HealthLoaders
from graph.http import REQUEST_ID_HEADER, request_id_for
from graph.ws_auth import REVOCATION_BOUND_SECONDS, Credential, recheck_credential
from infra.metrics import AUTH_FAILURES


@dataclass
class Context:
    """`principal` is None for anonymous callers; `auth_error` keeps why credentials that were
    sent did not authenticate, so the authorization check can report it.

    On a WebSocket the context lives as long as the connection: `credential` (from
    `connection_init`) is read again by `authorize` and by long-lived subscriptions, so a
    revoked key, an ended session, a deactivated user or a changed role stops working within
    the revocation bound, and the principal's `expires_at` ends it at the deadline.
    """

    settings: Settings
    request: Request | WebSocket
    response: Any
    request_id: str
    principal: Principal | None = None
    auth_error: PublicError | None = None
    connection_params: dict[str, Any] | None = None
    credential: Credential | None = None
    auth_checked_at: float = 0.0
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.require_principal, self.settings)

    @property
    def client_address(self) -> str | None:
        """The peer address; behind a proxy, the forwarded one, but only when the proxy is
        listed in FORWARDED_ALLOW_IPS (graph.app)."""
        client = self.request.client
        return client.host if client else None

    @property
    def is_websocket(self) -> bool:
        return isinstance(self.request, WebSocket)

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
        expires = self.principal.expires_at if self.principal is not None else None
        return expires is not None and expires <= datetime.now(UTC)

    def seconds_until_auth_check(self) -> float:
        """Until the credential expires or is due for its periodic re-check."""
        if self.credential is None:
            due = self.settings.live_reauth_seconds
        else:
            due = self.auth_checked_at + self.settings.live_reauth_seconds - time.monotonic()
        expires = self.principal.expires_at if self.principal is not None else None
        if expires is not None:
            due = min(due, (expires - datetime.now(UTC)).total_seconds())
        return due

    async def check_auth(self, *, max_age: float | None = None) -> None:
        """Raise AuthenticationError once the connection's credential is no longer valid.

        The credential is read again when the last check is older than `max_age` seconds
        (default `live_reauth_seconds`)."""
        if self.credential_expired():
            raise AuthenticationError("credential expired")
        if self.credential is None:
            self.require_principal()
            return
        limit = self.settings.live_reauth_seconds if max_age is None else max_age
        if time.monotonic() - self.auth_checked_at < limit:
            return
        principal, self.auth_checked_at = await recheck_credential(
            self.credential, settings=self.settings, max_age=limit
        )
        self.principal = replace(principal, client_address=self.client_address)

    async def authorize(self, operation: str) -> None:
        """Allow one call of a root field (`Query.shops`) or raise; see the module docstring.

        An HTTP request's credential was read when the request arrived; a WebSocket's is read
        again when its last check is older than REVOCATION_BOUND_SECONDS.
        """
        if self.credential is not None:
            await self.check_auth(max_age=REVOCATION_BOUND_SECONDS)
            # A WebSocket's context outlives its operations: fresh loaders per operation, so
            # no operation reads what an earlier one cached.
            self.loaders = Loaders(self.require_principal, self.settings)
        elif (
            self.principal is None
            and self.auth_error is not None
            and not PERMISSIONS[operation].public
        ):
            raise self.auth_error
        if self.principal is not None and self.principal.kind is PrincipalKind.API_KEY:
            # Every call is charged, allowed or not: a key probing what it may do pays too.
            try:
                await check_api_key_rate(self.principal, settings=self.settings)
            except PublicError:
                AUTH_FAILURES.labels(kind="rate_limited").inc()
                raise
        authorize(self.principal, operation)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or AuthenticationError("authentication required")
        return self.principal


class Loaders:
    """The DataLoaders of one request (one operation on a WebSocket), per domain."""

    def __init__(self, principal: Callable[[], Principal], settings: Settings) -> None:
        self.fleet = FleetLoaders(principal)
        self.health = HealthLoaders(principal, settings)


Info = StrawberryInfo[Context, None]


async def build_context(
    request: Request | WebSocket, response: Any, *, settings: Settings
) -> Context:
    """Resolve the caller once: a Bearer access token or an `X-API-Key` header (WebSockets
    authenticate in `connection_init` instead, see graph.app)."""
    request_id = request_id_for(request.scope)
    ctx = Context(settings=settings, request=request, response=response, request_id=request_id)
    if not isinstance(request, WebSocket) and hasattr(response, "headers"):
        response.headers[REQUEST_ID_HEADER] = request_id
    authorization = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key")
    try:
        if authorization.lower().startswith("bearer "):
            principal = await authenticate_bearer(authorization[7:].strip(), settings=settings)
            ctx.principal = replace(principal, client_address=ctx.client_address)
        elif api_key:
            principal = await authenticate_api_key(api_key, settings=settings)
            ctx.principal = replace(principal, client_address=ctx.client_address)
    except PublicError as exc:
        ctx.auth_error = exc
        AUTH_FAILURES.labels(kind="bearer" if authorization else "api_key").inc()
    return ctx
