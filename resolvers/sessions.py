"""Web sessions: login, refresh-token rotation with reuse detection, logout.

A login starts a session family: an access JWT (short-lived, carries the family as `sid`)
and an opaque refresh token. `refresh_session` trades a refresh token for a new pair exactly
once; presenting an already-used token again means it was copied, so the whole family is
revoked (both the thief's and the victim's next token stop working) and the event is logged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth.passwords import verify_password
from auth.refresh_tokens import generate_refresh_token, refresh_token_hash, refresh_token_hashes
from auth.throttle import check_login_rate
from auth.tokens import issue_access_token
from config import Settings
from models.identity import RefreshToken, User
from models.identity_store import find_user_by_email, get_user
from models.organization import utcnow
from models.scope import Scope
from models.session_store import (
    claim_refresh_token,
    find_refresh_token,
    insert_refresh_token,
    revoke_family,
)
from resolvers.errors import ErrorCode, UserError
from resolvers.metrics import AUTH_FAILURES
from resolvers.security_log import Actor, SecurityAction, record_event


@dataclass(frozen=True)
class Session:
    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def _invalid_refresh() -> UserError:
    return UserError("refreshToken", ErrorCode.INVALID_CREDENTIALS, "invalid refresh token")


async def _start(user: User, *, family_id: str, settings: Settings) -> Session:
    token, expires = issue_access_token(
        user_id=str(user.id), org_id=str(user.org_id), settings=settings, session_id=family_id
    )
    refresh = generate_refresh_token()
    refresh_hash = refresh_token_hash(refresh, pepper=settings.api_key_pepper)
    assert refresh_hash is not None
    stored = await insert_refresh_token(
        RefreshToken(
            token_hash=refresh_hash,
            family_id=family_id,
            user_id=user.id,
            org_id=user.org_id,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return Session(token, expires, refresh, stored.expires_at, user)


async def login(
    *, email: str, password: str, client_address: str | None, settings: Settings
) -> Session | UserError:
    """A new session for valid credentials of an active user.

    Throttled per account and per client address first (raises RateLimited). Unknown
    e-mail, wrong password and an inactive user get the same error after the same work.
    """
    await check_login_rate(email=email, client_address=client_address, settings=settings)
    user = await find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        await record_event(
            org_id=user.org_id if user else None,
            action=SecurityAction.LOGIN_FAILED,
            target_kind="USER" if user else None,
            target_id=user.id if user else None,
            client_address=client_address,
            details={"reason": "inactive" if user and ok else "credentials"},
        )
        AUTH_FAILURES.labels(kind="login").inc()
        return UserError(None, ErrorCode.INVALID_CREDENTIALS, "invalid e-mail or password")
    session = await _start(user, family_id=uuid.uuid4().hex, settings=settings)
    await record_event(
        org_id=user.org_id,
        action=SecurityAction.LOGIN_SUCCEEDED,
        actor=Actor("USER", str(user.id)),
        target_kind="USER",
        target_id=user.id,
        client_address=client_address,
    )
    return session


async def refresh_session(
    *, refresh_token: str, client_address: str | None, settings: Settings
) -> Session | UserError:
    """Rotate: a new access token and refresh token for an unused, valid refresh token."""
    hashes = refresh_token_hashes(refresh_token, peppers=settings.api_key_peppers)
    if hashes is None:
        return _invalid_refresh()
    now = utcnow()
    claimed = await claim_refresh_token(token_hashes=hashes, at=now)
    if claimed is None:
        known = await find_refresh_token(token_hashes=hashes)
        if known is not None and known.used_at is not None:
            revoked = await revoke_family(family_id=known.family_id, at=now)
            await record_event(
                org_id=known.org_id,
                action=SecurityAction.REFRESH_REUSE_DETECTED,
                target_kind="USER",
                target_id=known.user_id,
                client_address=client_address,
                details={"family": known.family_id, "revokedTokens": str(revoked)},
            )
        return _invalid_refresh()
    user = await get_user(scope=Scope.organization(claimed.org_id), user_id=claimed.user_id)
    if user is None or not user.active:
        await revoke_family(family_id=claimed.family_id, at=now)
        return _invalid_refresh()
    return await _start(user, family_id=claimed.family_id, settings=settings)


async def logout(*, refresh_token: str, client_address: str | None, settings: Settings) -> bool:
    """Revoke the session family of the token; False when the token is unknown."""
    hashes = refresh_token_hashes(refresh_token, peppers=settings.api_key_peppers)
    known = await find_refresh_token(token_hashes=hashes) if hashes else None
    if known is None:
        return False
    await revoke_family(family_id=known.family_id, at=utcnow())
    await record_event(
        org_id=known.org_id,
        action=SecurityAction.LOGOUT,
        actor=Actor("USER", str(known.user_id)),
        target_kind="USER",
        target_id=known.user_id,
        client_address=client_address,
    )
    return True
