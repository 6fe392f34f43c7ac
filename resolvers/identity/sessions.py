"""Web sessions: login, refresh-token rotation with reuse detection, logout.

A login starts a session family: an access JWT (short-lived, carries the family as `sid`)
and an opaque refresh token. `refresh_session` trades a refresh token for a new pair exactly
once; presenting an already-used token again means it was copied, so the whole family is
revoked (both the thief's and the victim's next token stop working) and the event is logged.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from auth.passwords import verify_password
from auth.refresh_tokens import generate_refresh_token, refresh_token_hash, refresh_token_hashes
from auth.throttle import check_login_rate
from auth.tokens import issue_access_token
from config import Settings
from infra.metrics import AUTH_FAILURES
from models.identity import RefreshToken, Session, User
from models.identity_store import find_users_by_email, get_user
from models.organization import utcnow
from models.scope import Scope
from models.session_store import (
    claim_refresh_token,
    extend_session,
    find_refresh_token,
    insert_refresh_token,
    insert_session,
    revoke_family,
)
from resolvers.errors import ServiceError
from resolvers.identity.errors import IdentityErrorCode
from resolvers.identity.security_log import SecurityAction, record_event, record_user_action
from resolvers.ids import parse_object_id


@dataclass(frozen=True)
class IssuedSession:
    """What a login or refresh hands out: an access token and a refresh token."""

    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def _invalid_refresh() -> ServiceError:
    return ServiceError.of(
        IdentityErrorCode.INVALID_CREDENTIALS, "invalid refresh token", field="refreshToken"
    )


async def start_session(user: User, *, settings: Settings) -> IssuedSession:
    """A new session for `user` (no credential check: callers have done it)."""
    family_id = uuid.uuid4().hex
    await insert_session(
        Session(
            id=family_id,
            org_id=user.org_id,
            user_id=user.id,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return await _issue(user, family_id=family_id, settings=settings)


async def _issue(user: User, *, family_id: str, settings: Settings) -> IssuedSession:
    token, expires = issue_access_token(
        user_id=str(user.id), org_id=str(user.org_id), session_id=family_id, settings=settings
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
    await extend_session(session_id=family_id, expires_at=stored.expires_at)
    return IssuedSession(token, expires, refresh, stored.expires_at, user)


async def _password_matches(users: list[User], password: str) -> list[bool]:
    """argon2 verification of each account (one dummy when there is none), in worker threads
    at once: the event loop stays free, and an e-mail held in several organizations costs
    about the same wall time as one."""
    hashes = [u.password_hash for u in users] or [None]
    results = await asyncio.gather(
        *(asyncio.to_thread(verify_password, h, password) for h in hashes)
    )
    return list(results)[: len(users)]


async def login(
    *,
    email: str,
    password: str,
    organization_id: str | None,
    client_address: str | None,
    settings: Settings,
) -> IssuedSession:
    """A new session for valid credentials of an active user.

    E-mails are unique per organization, so one address may have accounts in several. The
    password is checked against each; when it matches more than one, the caller must name
    the organization. Throttled per account and per client address first (raises
    RateLimited). Unknown e-mail, wrong password and an inactive user get the same error
    after the same work.
    """
    await check_login_rate(email=email, client_address=client_address, settings=settings)
    org_id = parse_object_id(organization_id) if organization_id is not None else None
    users = await find_users_by_email(email)
    if organization_id is not None:
        users = [u for u in users if u.org_id == org_id]
    matches = await _password_matches(users, password)
    matched = [u for u, ok in zip(users, matches, strict=True) if ok]
    usable = [u for u in matched if u.active]
    if len(usable) > 1:
        raise ServiceError.of(
            IdentityErrorCode.ORGANIZATION_REQUIRED,
            "these credentials open accounts in several organizations: give organizationId",
            field="organizationId",
        )
    if not usable:
        await _record_failed_login(users, matched, client_address=client_address)
        AUTH_FAILURES.labels(kind="login").inc()
        raise ServiceError.of(IdentityErrorCode.INVALID_CREDENTIALS, "invalid e-mail or password")
    user = usable[0]
    session = await start_session(user, settings=settings)
    await record_user_action(
        org_id=user.org_id,
        user_id=user.id,
        action=SecurityAction.LOGIN_SUCCEEDED,
        client_address=client_address,
    )
    return session


async def _record_failed_login(
    users: list[User], matched: list[User], *, client_address: str | None
) -> None:
    """One LOGIN_FAILED event in each organization that has the e-mail (the global chain
    when none has): every tenant sees attempts on its own accounts, and only those."""
    targets: list[tuple[ObjectId | None, User | None]] = [(u.org_id, u) for u in users]
    for org_id, user in targets or [(None, None)]:
        await record_event(
            org_id=org_id,
            action=SecurityAction.LOGIN_FAILED,
            target_kind="USER" if user else None,
            target_id=user.id if user else None,
            client_address=client_address,
            details={"reason": "inactive" if user in matched else "credentials"},
        )


async def refresh_session(
    *, refresh_token: str, client_address: str | None, settings: Settings
) -> IssuedSession:
    """Rotate: a new access token and refresh token for an unused, valid refresh token."""
    hashes = refresh_token_hashes(refresh_token, peppers=settings.api_key_peppers)
    if hashes is None:
        raise _invalid_refresh()
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
        raise _invalid_refresh()
    user = await get_user(scope=Scope.organization(claimed.org_id), user_id=claimed.user_id)
    if user is None or not user.active:
        await revoke_family(family_id=claimed.family_id, at=now)
        raise _invalid_refresh()
    return await _issue(user, family_id=claimed.family_id, settings=settings)


async def logout(*, refresh_token: str, client_address: str | None, settings: Settings) -> bool:
    """Revoke the session family of the token; False when the token is unknown."""
    hashes = refresh_token_hashes(refresh_token, peppers=settings.api_key_peppers)
    known = await find_refresh_token(token_hashes=hashes) if hashes else None
    if known is None:
        return False
    await revoke_family(family_id=known.family_id, at=utcnow())
    await record_user_action(
        org_id=known.org_id,
        user_id=known.user_id,
        action=SecurityAction.LOGOUT,
        client_address=client_address,
    )
    return True
