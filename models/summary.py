"""Materialized cash-flow summaries, per machine and currency, at four grains.

All are maintained with commutative `$inc`s (a new summary inserted whole) inside the
ingest transaction (see `models.summary_store`) and kept forever (no TTL). Hourly and daily
summaries share one shape:

- `n`: transactions; `t.<TYPE>.n` / `t.<TYPE>.a`: count and amount (minor units) by type;
- `s.<SLOT>.<TYPE>`: pieces by denomination slot (`N500`, `C100`) and type, as reported
  (positive, except ADJUSTMENT lines which carry their own sign).

Hourly documents are keyed by the UTC hour (`bucket`). Daily documents are keyed by the
calendar date in the shop's time zone, stored as that date at 00:00 UTC (`bucket`), with the
zone in `timezone`.

Two compact rollups serve the hot dashboard queries with few, flat documents (the embedded
database's cost grows with the number of nested values it reads, not only with documents):

- monthly flow (`MonthlyFlow`): one document per local calendar month, `n[day - 1]`
  (transactions) and `a.<TYPE>[day - 1]` (amount per type), 31-element arrays created with
  zeros; day/week/month charts and the overview read ~20x fewer documents than from daily
  summaries;
- daily demand (`DailyDemand`): one document per local date, `p["<SLOT>@<hour>"]`, the
  organic net pieces (deposits minus withdrawals) per slot and local hour; the replenishment
  forecast reads only the weekdays it needs, with no nested type maps.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import IndexModel

from models.indexes import ascending

SUMMARY_KEY = ["org_id", "shop_id", "machine_id", "currency", "bucket"]
# The same fields, shard key first (models/sharding.py): a sharded collection's unique index
# must start with its shard key.
SUMMARY_UNIQUE_INDEX = ["org_id", "machine_id", "shop_id", "currency", "bucket"]


class Grain(StrEnum):
    """The summary collections, by what one document covers."""

    HOUR = "hour"
    DAY = "day"
    MONTH = "month"
    DEMAND = "demand"


def _indexes() -> list[IndexModel]:
    return [
        ascending(*SUMMARY_UNIQUE_INDEX, unique=True),
        ascending("org_id", "bucket"),
        ascending("org_id", "shop_id", "bucket"),
        ascending("org_id", "machine_id", "bucket"),
    ]


class MachineSummary(Document):
    """The key every summary shares: one machine and currency in one time bucket."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    currency: str
    bucket: datetime


class TypedFlow(MachineSummary):
    """Counts, amounts and pieces per transaction type and slot (`n`, `t`, `s`)."""

    n: int = 0
    t: dict[str, dict[str, int]] = Field(default_factory=dict)
    s: dict[str, dict[str, int]] = Field(default_factory=dict)


class HourlySummary(TypedFlow):
    """Movements of one machine in one currency during one UTC hour (`bucket`)."""

    class Settings:
        name = "summaries_hourly"
        indexes = _indexes()


class DailySummary(TypedFlow):
    """Movements of one machine in one currency during one local calendar date (`bucket`)."""

    timezone: str

    class Settings:
        name = "summaries_daily"
        indexes = _indexes()


class MonthlyFlow(MachineSummary):
    """Movements of one machine in one currency during one local calendar month (`bucket`,
    the month's first date at 00:00 UTC): `n[day - 1]` transactions and `a[TYPE][day - 1]`
    amount (minor units) in arrays of 31, zero where nothing moved. Counts per type are left to
    the daily summaries: every value stored here is read by every chart."""

    timezone: str
    n: list[int] = Field(default_factory=list)
    a: dict[str, list[int]] = Field(default_factory=dict)

    class Settings:
        name = "summaries_monthly"
        indexes = _indexes()


class DailyDemand(MachineSummary):
    """Organic flow of one machine in one currency during one local date (`bucket`):
    `p["N500@13"]` is deposited minus withdrawn pieces of that slot in local hour 13."""

    timezone: str
    p: dict[str, int] = Field(default_factory=dict)

    class Settings:
        name = "summaries_demand"
        indexes = _indexes()


# The document class of each grain's collection.
SUMMARY_DOCUMENTS: dict[Grain, type[MachineSummary]] = {
    Grain.HOUR: HourlySummary,
    Grain.DAY: DailySummary,
    Grain.MONTH: MonthlyFlow,
    Grain.DEMAND: DailyDemand,
}

SummaryDoc = dict[str, Any]
