"""Organization and Shop documents: the tenant and its sites."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel


def utcnow() -> datetime:
    """Now, in UTC, truncated to the millisecond MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Organization(Document):
    """A tenant: a retailer with its shops, machines, users and keys. `audit_witness_keys`
    are the verifier keys of the witnesses it runs (`cashcc witness`, docs/audit.md)."""

    name: str
    currency: str
    timezone: str
    audit_witness_keys: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "organizations"


class Shop(Document):
    """A site of an organization; `code` is unique within the organization."""

    org_id: PydanticObjectId
    name: str
    code: str
    timezone: str
    currency: str
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "shops"
        indexes = [
            IndexModel([("org_id", ASCENDING), ("code", ASCENDING)], unique=True),
        ]
