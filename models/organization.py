"""Organization and Shop documents: the tenant and its sites."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from models.indexes import ascending


def utcnow() -> datetime:
    """Now, in UTC, truncated to the millisecond MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class HealthSettings(BaseModel):
    """Health thresholds of an organization or, overriding it, of a shop; None: inherited
    (shop -> organization -> the deployment's settings)."""

    heartbeat_interval_seconds: int | None = None
    offline_grace_seconds: int | None = None
    stale_after_seconds: int | None = None


class OpeningHours(BaseModel):
    """One opening interval on an ISO weekday (1 = Monday) in the shop's time zone, in
    minutes after local midnight: `closes` may be 1440 (midnight)."""

    weekday: int
    opens: int
    closes: int


class Address(BaseModel):
    line1: str
    line2: str | None = None
    postal_code: str | None = None
    city: str
    region: str | None = None
    country: str


class Coordinates(BaseModel):
    latitude: float
    longitude: float


class Organization(Document):
    """A tenant: a retailer with its shops, machines, users and keys. `audit_witness_keys`
    are the verifier keys of the witnesses it runs (`cashcc witness`, docs/audit.md)."""

    name: str
    currency: str
    timezone: str
    audit_witness_keys: list[str] = Field(default_factory=list)
    health: HealthSettings = Field(default_factory=HealthSettings)
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
    opening_hours: list[OpeningHours] = Field(default_factory=list)
    address: Address | None = None
    coordinates: Coordinates | None = None
    health: HealthSettings = Field(default_factory=HealthSettings)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "shops"
        indexes = [
            ascending("org_id", "code", unique=True),
        ]
