"""The authenticated caller of one request, resolved once and carried on the context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from beanie import PydanticObjectId
from bson import ObjectId
from bson.errors import InvalidId

from auth.api_keys import parse_key, secret_matches
from auth.errors import AuthenticationError
from auth.tokens import decode_access_token
from config import Settings
from models.identity import ApiKey, Role, User
from models.scope import Scope


class PrincipalKind(StrEnum):
    USER = "USER"
    API_KEY = "API_KEY"


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may see.

    A user's scope follows the role: ORG_ADMIN sees the whole organization, SHOP_MANAGER and
    EMPLOYEE only their assigned shops. An API key sees its shop (and machines, if listed).
    """

    kind: PrincipalKind
    org_id: ObjectId
    scope: Scope
    role: Role | None = None
    user_id: ObjectId | None = None
    api_key_id: ObjectId | None = None

    @property
    def actor_id(self) -> ObjectId:
        actor = self.user_id if self.kind is PrincipalKind.USER else self.api_key_id
        assert actor is not None
        return actor


def principal_for_user(user: User) -> Principal:
    if user.role is Role.ORG_ADMIN:
        scope = Scope.organization(user.org_id)
    else:
        scope = Scope(org_id=user.org_id, shop_ids=frozenset(user.shop_ids))
    return Principal(
        kind=PrincipalKind.USER,
        org_id=user.org_id,
        scope=scope,
        role=user.role,
        user_id=user.id,
    )


def principal_for_api_key(key: ApiKey) -> Principal:
    machines = frozenset(key.machine_ids) if key.machine_ids is not None else None
    return Principal(
        kind=PrincipalKind.API_KEY,
        org_id=key.org_id,
        scope=Scope(org_id=key.org_id, shop_ids=frozenset({key.shop_id}), machine_ids=machines),
        api_key_id=key.id,
    )


async def authenticate_bearer(token: str, *, settings: Settings) -> Principal:
    """The principal of a valid access token whose user is still active."""
    claims = decode_access_token(token, settings=settings)
    try:
        user_id = PydanticObjectId(claims.user_id)
    except InvalidId as exc:
        raise AuthenticationError("invalid access token") from exc
    user = await User.get(user_id)
    if user is None or not user.active or str(user.org_id) != claims.org_id:
        raise AuthenticationError("invalid access token")
    return principal_for_user(user)


async def authenticate_api_key(raw_key: str, *, settings: Settings) -> Principal:
    """The principal of a well-formed, known, unrevoked, unexpired API key."""
    parsed = parse_key(raw_key)
    if parsed is None:
        raise AuthenticationError("malformed API key")
    key = await ApiKey.find_one(ApiKey.key_id == parsed.key_id)
    if key is None or not secret_matches(
        parsed.secret, key.secret_hash, pepper=settings.api_key_pepper
    ):
        raise AuthenticationError("invalid API key")
    now = datetime.now(UTC)
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise AuthenticationError("API key revoked or expired")
    return principal_for_api_key(key)
