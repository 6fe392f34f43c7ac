"""The authenticated caller of one request, resolved once and carried on the context."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from beanie import PydanticObjectId
from bson import ObjectId
from bson.errors import InvalidId

from auth.api_keys import display_prefix, hash_secret, parse_key, secret_matches
from auth.errors import AuthenticationError
from auth.tokens import decode_access_token
from config import Settings
from models.identity import ApiKey, Role, User
from models.identity_store import (
    find_api_key_by_key_id,
    find_user_for_authentication,
    rehash_api_key,
    touch_api_key,
)
from models.scope import Scope
from models.session_store import session_active

# last_used_at is written at most once per this interval per key and process, and only when
# the stored value is older (conditional update), so busy keys do not cost a write per call.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_MAX_TRACKED_KEYS = 10_000
_last_touch: dict[ObjectId, float] = {}
log = logging.getLogger(__name__)


class PrincipalKind(StrEnum):
    USER = "USER"
    API_KEY = "API_KEY"


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may see.

    A user's scope follows the role: ORG_ADMIN and AUDITOR see the whole organization,
    SHOP_MANAGER its assigned shops, EMPLOYEE its assigned shops (and only the assigned
    machines of them, when listed). An API key sees its shop (and machines, if listed).
    """

    kind: PrincipalKind
    org_id: ObjectId
    scope: Scope
    role: Role | None = None
    user_id: ObjectId | None = None
    api_key_id: ObjectId | None = None
    # When the credential stops being valid by itself (token `exp`, key expiry); None: never.
    expires_at: datetime | None = None
    # Where the request came from (for the security log); never used for authorization.
    client_address: str | None = None

    @property
    def actor_id(self) -> ObjectId:
        actor = self.user_id if self.kind is PrincipalKind.USER else self.api_key_id
        assert actor is not None
        return actor


def principal_for_user(user: User, *, expires_at: datetime | None = None) -> Principal:
    if user.role in (Role.ORG_ADMIN, Role.AUDITOR):
        scope = Scope.organization(user.org_id)
    else:
        machines = None
        if user.role is Role.EMPLOYEE and user.machine_ids is not None:
            machines = frozenset(user.machine_ids)
        scope = Scope(org_id=user.org_id, shop_ids=frozenset(user.shop_ids), machine_ids=machines)
    return Principal(
        kind=PrincipalKind.USER,
        org_id=user.org_id,
        scope=scope,
        role=user.role,
        user_id=user.id,
        expires_at=expires_at,
    )


def principal_for_api_key(key: ApiKey) -> Principal:
    machines = frozenset(key.machine_ids) if key.machine_ids is not None else None
    return Principal(
        kind=PrincipalKind.API_KEY,
        org_id=key.org_id,
        scope=Scope(org_id=key.org_id, shop_ids=frozenset({key.shop_id}), machine_ids=machines),
        api_key_id=key.id,
        expires_at=key.expires_at,
    )


async def authenticate_bearer(token: str, *, settings: Settings) -> Principal:
    """The principal of a valid access token whose user is still active and whose session
    (claim `sid`) has not been ended by logout or refresh-token reuse."""
    claims = decode_access_token(token, settings=settings)
    try:
        user_id = PydanticObjectId(claims.user_id)
    except InvalidId as exc:
        raise AuthenticationError("invalid access token") from exc
    user = await find_user_for_authentication(user_id)
    if user is None or not user.active or str(user.org_id) != claims.org_id:
        raise AuthenticationError("invalid access token")
    if not await session_active(session_id=claims.session_id, user_id=user.id):
        raise AuthenticationError("session ended")
    return principal_for_user(user, expires_at=claims.expires_at)


def key_secret_valid(key: ApiKey, secret: str, *, peppers: list[str], now: datetime) -> int | None:
    """The index of the pepper under which `secret` is the key's current secret, or the
    previous one while its rotation overlap lasts; None when it is neither."""
    in_overlap = key.previous_valid_until is not None and key.previous_valid_until > now
    for index, pepper in enumerate(peppers):
        if secret_matches(secret, key.secret_hash, pepper=pepper):
            return index
        if (
            in_overlap
            and key.previous_secret_hash is not None
            and secret_matches(secret, key.previous_secret_hash, pepper=pepper)
        ):
            return 0  # an overlap secret is never re-hashed: it is about to lapse
    return None


async def authenticate_api_key(raw_key: str, *, settings: Settings) -> Principal:
    """The principal of a well-formed, known, unrevoked, unexpired API key.

    Always read from the database (no cache), so a revocation is seen by the next request
    on every worker.
    """
    parsed = parse_key(raw_key)
    if parsed is None:
        raise AuthenticationError("malformed API key")
    if parsed.environment != settings.api_key_environment:
        raise AuthenticationError(
            f"a {parsed.environment} API key does not work on this {settings.api_key_environment}"
            " deployment"
        )
    key = await find_api_key_by_key_id(parsed.key_id)
    now = datetime.now(UTC)
    # The environment is not covered by the secret's hash (and the checksum is no secret):
    # the key's stored prefix, which names its environment, must match what was presented.
    matched = (
        None
        if key is None or key.prefix != display_prefix(parsed)
        else key_secret_valid(key, parsed.secret, peppers=settings.api_key_peppers, now=now)
    )
    if key is None or matched is None:
        raise AuthenticationError("invalid API key")
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise AuthenticationError("API key revoked or expired")
    if matched > 0:  # verified under a pepper being retired: move it to the current one
        await rehash_api_key(
            key_id=key.key_id,
            old_hash=key.secret_hash,
            new_hash=hash_secret(parsed.secret, pepper=settings.api_key_pepper),
        )
    return principal_for_api_key(key)


async def note_api_key_use(principal: Principal) -> None:
    """Record that the principal's key was used (bookkeeping, run after the operation).

    At most one write per key per `LAST_USED_RESOLUTION` per process, conditional on the
    stored value being older; failures are logged, never raised.
    """
    key_id = principal.api_key_id
    if key_id is None:
        return
    clock = time.monotonic()
    last = _last_touch.get(key_id)
    if last is not None and clock - last < LAST_USED_RESOLUTION.total_seconds():
        return
    if len(_last_touch) >= _MAX_TRACKED_KEYS:
        _last_touch.clear()
    _last_touch[key_id] = clock
    try:
        await touch_api_key(key_id=key_id, at=datetime.now(UTC), resolution=LAST_USED_RESOLUTION)
    except Exception:
        _last_touch.pop(key_id, None)
        log.warning("could not record last use of API key %s", key_id, exc_info=True)
