"""Maintaining the hourly and daily summaries from transaction documents.

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
from models.summary import DailySummary, HourlySummary

Key = tuple[ObjectId, ObjectId, ObjectId, str, datetime]


def hourly() -> AsyncCollection:
    return HourlySummary.get_pymongo_collection()


def daily() -> AsyncCollection:
    return DailySummary.get_pymongo_collection()


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour containing `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_date_of(at: datetime, timezone: str) -> datetime:
    """The calendar date of `at` in `timezone`, as that date at 00:00 UTC (the daily key)."""
    local = at.astimezone(ZoneInfo(timezone))
    return datetime(local.year, local.month, local.day, tzinfo=UTC)


def increments(doc: Mapping[str, Any]) -> dict[str, int]:
    """The `$inc` one transaction document adds to its summaries."""
    type_ = doc["type"]
    inc: dict[str, int] = {"n": 1, f"t.{type_}.n": 1, f"t.{type_}.a": int(doc["amount"])}
    for line in doc["lines"]:
        slot = f"{line['kind']}{line['denomination']}"
        inc[f"s.{slot}.{type_}"] = inc.get(f"s.{slot}.{type_}", 0) + int(line["count"])
    return inc


def summary_increments(
    docs: Iterable[Mapping[str, Any]], *, timezone: str
) -> tuple[dict[Key, dict[str, int]], dict[Key, dict[str, int]]]:
    """(`$inc` per hourly key, `$inc` per daily key) for a set of transaction documents."""
    hours: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for doc in docs:
        ident = (doc["org_id"], doc["shop_id"], doc["machine_id"], doc["currency"])
        at = doc["occurred_at"]
        for target, bucket in (
            (hours, hour_of(at)),
            (days, local_date_of(at, timezone)),
        ):
            acc = target[(*ident, bucket)]
            for path, value in increments(doc).items():
                acc[path] += value
    return hours, days


def upserts(incs: Mapping[Key, Mapping[str, int]], *, timezone: str | None) -> list[UpdateOne]:
    """Bulk `$inc` upserts for the given keys (`timezone` is set on daily documents)."""
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
    hours, days = summary_increments(docs, timezone=timezone)
    await hourly().bulk_write(upserts(hours, timezone=None), ordered=False, session=session)
    await daily().bulk_write(upserts(days, timezone=timezone), ordered=False, session=session)
