"""User and ApiKey documents: who may call the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.organization import utcnow


class Role(StrEnum):
    ORG_ADMIN = "ORG_ADMIN"
    SHOP_MANAGER = "SHOP_MANAGER"
    EMPLOYEE = "EMPLOYEE"


class User(Document):
    """A person using the web API. `email` is stored lower-case and is globally unique."""

    org_id: PydanticObjectId
    email: str
    password_hash: str
    role: Role
    shop_ids: list[PydanticObjectId] = Field(default_factory=list)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "users"
        indexes = [
            IndexModel([("email", ASCENDING)], unique=True),
            IndexModel([("org_id", ASCENDING)]),
        ]


class ApiKey(Document):
    """A key a shop's local system uses to push data.

    Only an HMAC of the secret (keyed with the server-side pepper) is stored. The key covers
    one shop and, when `machine_ids` is set, only those machines of it.
    """

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_ids: list[PydanticObjectId] | None = None
    name: str
    key_id: str
    prefix: str
    secret_hash: str
    created_by: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            IndexModel([("key_id", ASCENDING)], unique=True),
            IndexModel([("org_id", ASCENDING), ("shop_id", ASCENDING)]),
        ]
