"""Maintaining the summaries (hourly, daily, monthly flow, daily demand) from transactions.

`apply_to_summaries` runs inside the ingest transaction, so summaries change atomically with
the batch: a retried or failed batch leaves them untouched, a committed one counts each
transaction exactly once. Updates are `$inc` upserts, which commute, so concurrent batches
of different machines (or a retried transaction) need no coordination.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.scope import Scope
from models.summary import DailyDemand, DailySummary, Grain, HourlySummary, MonthlyFlow

Key = tuple[ObjectId, ObjectId, ObjectId, str, datetime]
Increments = dict[Grain, dict[Key, dict[str, int]]]
ORGANIC_SIGN = {"DEPOSIT": 1, "WITHDRAWAL": -1}
SUMMARY_DOCUMENTS = {
    Grain.HOUR: HourlySummary,
    Grain.DAY: DailySummary,
    Grain.MONTH: MonthlyFlow,
    Grain.DEMAND: DailyDemand,
}
# Grains whose documents are keyed in the shop's time zone (and record it).
LOCAL_GRAINS = (Grain.DAY, Grain.MONTH, Grain.DEMAND)


def collection(grain: Grain) -> AsyncCollection:
    """The collection holding the summaries of `grain`."""
    return SUMMARY_DOCUMENTS[grain].get_pymongo_collection()


def hourly() -> AsyncCollection:
    return collection(Grain.HOUR)


def daily() -> AsyncCollection:
    return collection(Grain.DAY)


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour containing `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_date_of(at: datetime, timezone: str) -> datetime:
    """The calendar date of `at` in `timezone`, as that date at 00:00 UTC (the daily key)."""
    local = at.astimezone(ZoneInfo(timezone))
    return datetime(local.year, local.month, local.day, tzinfo=UTC)


def increments(doc: Mapping[str, Any]) -> dict[str, int]:
    """The `$inc` one transaction document adds to its hourly and daily summaries."""
    type_ = doc["type"]
    inc: dict[str, int] = {"n": 1, f"t.{type_}.n": 1, f"t.{type_}.a": int(doc["amount"])}
    for line in doc["lines"]:
        slot = f"{line['kind']}{line['denomination']}"
        inc[f"s.{slot}.{type_}"] = inc.get(f"s.{slot}.{type_}", 0) + int(line["count"])
    return inc


def demand_increments(doc: Mapping[str, Any], local_hour: int) -> dict[str, int]:
    """The `$inc` one transaction adds to its daily demand document (empty for
    interventions: collections, replenishments and adjustments are not demand)."""
    sign = ORGANIC_SIGN.get(doc["type"])
    inc: dict[str, int] = {}
    if sign is None:
        return inc
    for line in doc["lines"]:
        path = f"p.{line['kind']}{line['denomination']}@{local_hour}"
        inc[path] = inc.get(path, 0) + sign * int(line["count"])
    return inc


def summary_increments(docs: Iterable[Mapping[str, Any]], *, timezone: str) -> Increments:
    """The `$inc` per summary key of every grain for a set of transaction documents of
    shops in `timezone`."""
    zone = ZoneInfo(timezone)
    incs: Increments = {g: defaultdict(lambda: defaultdict(int)) for g in SUMMARY_DOCUMENTS}
    for doc in docs:
        ident = (doc["org_id"], doc["shop_id"], doc["machine_id"], doc["currency"])
        at = doc["occurred_at"]
        local = at.astimezone(zone)
        date = datetime(local.year, local.month, local.day, tzinfo=UTC)
        summary = increments(doc)
        for grain, bucket in ((Grain.HOUR, hour_of(at)), (Grain.DAY, date)):
            acc = incs[grain][(*ident, bucket)]
            for path, value in summary.items():
                acc[path] += value
        type_, day = doc["type"], local.day
        month = incs[Grain.MONTH][(*ident, date.replace(day=1))]
        month[f"n.{day}"] += 1
        month[f"a.{type_}.{day}"] += int(doc["amount"])
        demand = demand_increments(doc, local.hour)
        if demand:
            acc = incs[Grain.DEMAND][(*ident, date)]
            for path, value in demand.items():
                acc[path] += value
    return incs


def upserts(incs: Mapping[Key, Mapping[str, int]], *, timezone: str | None) -> list[UpdateOne]:
    """Bulk `$inc` upserts for the given keys (`timezone` is set on local-date documents)."""
    ops = []
    for (org_id, shop_id, machine_id, currency, bucket), inc in incs.items():
        key = {
            "org_id": org_id,
            "shop_id": shop_id,
            "machine_id": machine_id,
            "currency": currency,
            "bucket": bucket,
        }
        update: dict[str, Any] = {"$inc": dict(inc)}
        if timezone is not None:
            update["$setOnInsert"] = {"timezone": timezone}
        ops.append(UpdateOne(key, update, upsert=True))
    return ops


async def apply_to_summaries(
    docs: list[dict[str, Any]], *, session: AsyncClientSession, scope: Scope, timezone: str
) -> None:
    """Add freshly inserted transaction documents of one machine to the summaries.

    `timezone` is the machine's shop's IANA zone (the key of its daily summaries); the caller
    reads it before the transaction so the transaction stays short. Must run in the
    transaction that inserts `docs`.
    """
    if not docs:
        return
    if any(not scope.allows_shop(d["shop_id"]) for d in docs):
        raise PermissionError("transaction outside the caller's scope")
    for grain, incs in summary_increments(docs, timezone=timezone).items():
        if incs:
            zone = timezone if grain in LOCAL_GRAINS else None
            await collection(grain).bulk_write(
                upserts(incs, timezone=zone), ordered=False, session=session
            )
