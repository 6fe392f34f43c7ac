"""User and ApiKey documents: who may call the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from beanie import Document, PydanticObjectId
from pydantic import Field

from models.indexes import ascending, expiry
from models.organization import utcnow


class Role(StrEnum):
    ORG_ADMIN = "ORG_ADMIN"
    SHOP_MANAGER = "SHOP_MANAGER"
    EMPLOYEE = "EMPLOYEE"
    AUDITOR = "AUDITOR"


class User(Document):
    """A person using the web API. `email` is stored lower-case and unique per organization
    (never globally: an admin must not learn that an address exists in another tenant)."""

    org_id: PydanticObjectId
    email: str
    password_hash: str
    role: Role
    shop_ids: list[PydanticObjectId] = Field(default_factory=list)
    # EMPLOYEE only: limit the user to these machines of the assigned shops.
    machine_ids: list[PydanticObjectId] | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # A pending invitation: the keyed hash of the one-time token and when it lapses.
    invite_hash: str | None = None
    invite_expires_at: datetime | None = None

    class Settings:
        name = "users"
        indexes = [
            ascending("org_id", "email", unique=True),
            ascending("email", name="login_email"),
            ascending("invite_hash", partialFilterExpression={"invite_hash": {"$type": "string"}}),
        ]


class ApiKey(Document):
    """A key a shop's local system uses to push data.

    Only an HMAC of the secret (keyed with the server-side pepper) is stored. The key covers
    one shop and, when `machine_ids` is set, only those machines of it. During a rotation the
    previous secret's hash stays valid until `previous_valid_until`.
    """

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_ids: list[PydanticObjectId] | None = None
    name: str
    key_id: str
    prefix: str
    secret_hash: str
    previous_secret_hash: str | None = None
    previous_valid_until: datetime | None = None
    created_by: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utcnow)
    rotated_at: datetime | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            ascending("key_id", unique=True),
            ascending("org_id", "shop_id"),
        ]


class Session(Document):
    """One login session (a refresh-token family). Access tokens name it in their `sid` claim
    and stop working once it is revoked or lapsed; `expires_at` moves with every refresh and
    a TTL index removes lapsed sessions."""

    id: str = Field(alias="_id")  # type: ignore[assignment]
    org_id: PydanticObjectId
    user_id: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None

    class Settings:
        name = "sessions"
        indexes = [
            ascending("user_id"),
            expiry(),
        ]


class RefreshToken(Document):
    """One opaque refresh token (only its keyed hash is stored) in a session family.

    A login starts a family; each refresh marks the presented token `used_at` and issues the
    next one in the same family. Presenting a used token again revokes the whole family.
    """

    token_hash: str
    family_id: str
    user_id: PydanticObjectId
    org_id: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "refresh_tokens"
        indexes = [
            ascending("token_hash", unique=True),
            ascending("family_id"),
            ascending("user_id"),
            expiry(),
        ]
