"""Materialized cash-flow summaries: per machine and currency, per UTC hour and per local day.

Both collections share one shape, maintained with commutative `$inc` upserts inside the
ingest transaction (see `models.summary_store`) and kept forever (no TTL):

- `n`: transactions; `t.<TYPE>.n` / `t.<TYPE>.a`: count and amount (minor units) by type;
- `s.<SLOT>.<TYPE>`: pieces by denomination slot (`N500`, `C100`) and type, as reported
  (positive, except ADJUSTMENT lines which carry their own sign).

Hourly documents are keyed by the UTC hour (`bucket`). Daily documents are keyed by the
calendar date in the shop's time zone, stored as that date at 00:00 UTC (`bucket`), with the
zone in `timezone`; they let day/week/month views of long ranges read 24x fewer documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

SUMMARY_KEY = ["org_id", "shop_id", "machine_id", "currency", "bucket"]


def _indexes() -> list[IndexModel]:
    return [
        IndexModel([(f, ASCENDING) for f in SUMMARY_KEY], unique=True),
        IndexModel([("org_id", ASCENDING), ("bucket", ASCENDING)]),
        IndexModel([("org_id", ASCENDING), ("shop_id", ASCENDING), ("bucket", ASCENDING)]),
        IndexModel([("org_id", ASCENDING), ("machine_id", ASCENDING), ("bucket", ASCENDING)]),
    ]


class HourlySummary(Document):
    """Movements of one machine in one currency during one UTC hour (`bucket`)."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    currency: str
    bucket: datetime
    n: int = 0
    t: dict[str, dict[str, int]] = Field(default_factory=dict)
    s: dict[str, dict[str, int]] = Field(default_factory=dict)

    class Settings:
        name = "summaries_hourly"
        indexes = _indexes()


class DailySummary(Document):
    """Movements of one machine in one currency during one local calendar date (`bucket`)."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    currency: str
    bucket: datetime
    timezone: str
    n: int = 0
    t: dict[str, dict[str, int]] = Field(default_factory=dict)
    s: dict[str, dict[str, int]] = Field(default_factory=dict)

    class Settings:
        name = "summaries_daily"
        indexes = _indexes()


SummaryDoc = dict[str, Any]
