"""WebSocket authentication: credentials from `connection_init`, checked by the same
functions as HTTP requests (`auth.principal.authenticate_bearer` / `authenticate_api_key`).

A browser cannot set headers on a WebSocket, so clients send `{"authorization": "Bearer
<jwt>"}` (or `{"token": "<jwt>"}`) or `{"apiKey": "<key>"}` as the connection params; headers on
the upgrade request are accepted as a fallback. The connection remembers the credential so
long-lived subscriptions can check it again (expiry, revocation, deactivation).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from auth.errors import AuthenticationError
from auth.principal import Principal, authenticate_api_key, authenticate_bearer
from config import Settings


class CredentialKind(StrEnum):
    BEARER = "BEARER"
    API_KEY = "API_KEY"


@dataclass(frozen=True)
class Credential:
    kind: CredentialKind
    secret: str


def _param(params: dict[str, Any], *names: str) -> str | None:
    lowered = {str(k).lower(): v for k, v in params.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def credential_from(params: dict[str, Any], headers: Any) -> Credential | None:
    """The credential in the connection params, else in the upgrade request's headers."""
    authorization = _param(params, "authorization", "Authorization")
    token = _param(params, "token", "accessToken")
    api_key = _param(params, "apiKey", "api_key", "x-api-key")
    if authorization is None and token is None and api_key is None:
        authorization = headers.get("authorization")
        api_key = headers.get("x-api-key")
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if token:
        return Credential(CredentialKind.BEARER, token)
    if api_key:
        return Credential(CredentialKind.API_KEY, api_key)
    return None


async def authenticate_credential(credential: Credential, *, settings: Settings) -> Principal:
    """The principal of `credential` (with its `expires_at`); raises AuthenticationError like
    the HTTP path does."""
    if credential.kind is CredentialKind.BEARER:
        return await authenticate_bearer(credential.secret, settings=settings)
    return await authenticate_api_key(credential.secret, settings=settings)


# How long a revoked credential may keep working on an open WebSocket, at most: operations
# and subscription deliveries re-read the credential when their last check is older.
REVOCATION_BOUND_SECONDS = 1.0
# Successful re-checks are shared by every connection of this process that holds the same
# credential, for at most the bound: a thousand dashboards on one token cost one database
# read per second instead of a thousand. Revocation still reaches every connection within the
# bound (each connection takes the entry's read time as its own check time).
_MAX_SHARED = 10_000
_shared: dict[tuple[int, Credential], tuple[float, asyncio.Future]] = {}


async def recheck_credential(
    credential: Credential, *, settings: Settings, max_age: float
) -> tuple[Principal, float]:
    """Like `authenticate_credential`, reusing a read at most `min(max_age, bound)` old.

    Returns the principal and the monotonic time the credential was read. Concurrent callers
    share one read; failures are never reused.
    """
    now = time.monotonic()
    window = min(max_age, REVOCATION_BOUND_SECONDS)
    key = (id(asyncio.get_running_loop()), credential)
    entry = _shared.get(key)
    if entry is None or now - entry[0] >= window:
        if len(_shared) >= _MAX_SHARED:
            for stale in [k for k, (at, _) in _shared.items() if now - at >= window]:
                del _shared[stale]
        entry = (now, asyncio.ensure_future(authenticate_credential(credential, settings=settings)))
        _shared[key] = entry
    read_at, future = entry
    try:
        principal = await asyncio.shield(future)
    except Exception:
        if _shared.get(key) is entry:
            del _shared[key]
        raise
    return principal, read_at


def require_credential(credential: Credential | None) -> Credential:
    if credential is None:
        raise AuthenticationError("connection_init must carry an access token or an API key")
    return credential
