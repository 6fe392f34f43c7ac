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

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.currencies import slot_key
from models.ledger import FLOW_SIGN, ORGANIC_TYPES, TRANSACTION_TYPES
from models.scope import Scope
from models.summary import (
    SUMMARY_KEY,
    DailyDemand,
    DailySummary,
    Grain,
    HourlySummary,
    MonthlyFlow,
)
from models.timezones import zone_info

Key = tuple[ObjectId, ObjectId, ObjectId, str, datetime]
Increments = dict[Grain, dict[Key, dict[str, int]]]
ORGANIC_SIGN = {t: FLOW_SIGN[t] for t in ORGANIC_TYPES}
MONTH_DAYS = 31
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


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour containing `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def increments(doc: Mapping[str, Any]) -> dict[str, int]:
    """The `$inc` one transaction document adds to its hourly and daily summaries."""
    type_ = doc["type"]
    inc: dict[str, int] = {"n": 1, f"t.{type_}.n": 1, f"t.{type_}.a": int(doc["amount"])}
    for line in doc["lines"]:
        slot = slot_key(line["kind"], line["denomination"])
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
        path = f"p.{slot_key(line['kind'], line['denomination'])}@{local_hour}"
        inc[path] = inc.get(path, 0) + sign * int(line["count"])
    return inc


def summary_increments(docs: Iterable[Mapping[str, Any]], *, timezone: str) -> Increments:
    """The `$inc` per summary key of every grain for a set of transaction documents of
    shops in `timezone`."""
    zone = zone_info(timezone)
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
        type_, index = doc["type"], local.day - 1
        month = incs[Grain.MONTH][(*ident, date.replace(day=1))]
        month[f"n.{index}"] += 1
        month[f"a.{type_}.{index}"] += int(doc["amount"])
        demand = demand_increments(doc, local.hour)
        if demand:
            acc = incs[Grain.DEMAND][(*ident, date)]
            for path, value in demand.items():
                acc[path] += value
    return incs


def empty_month() -> dict[str, Any]:
    """A monthly flow document's values before any movement: zeros for every day and type.

    Arrays, not maps keyed by day: the embedded database decodes an array value about twice
    as fast as a map entry, and every chart reads every value of these documents.
    """
    return {"n": [0] * MONTH_DAYS, "a": {t: [0] * MONTH_DAYS for t in TRANSACTION_TYPES}}


def key_fields(key: Key) -> dict[str, Any]:
    """A summary key as the document's fields."""
    return dict(zip(SUMMARY_KEY, key, strict=True))


def upserts(grain: Grain, incs: Mapping[Key, Mapping[str, int]], *, timezone: str) -> list[Any]:
    """Bulk `$inc` upserts for the given keys of `grain` (local-date documents record
    `timezone`). A monthly document is first created with its zero arrays, in the same
    ordered bulk write: `$inc` on an array index cannot create the array."""
    ops: list[Any] = []
    for ident, inc in incs.items():
        key = key_fields(ident)
        initial: dict[str, Any] = {"timezone": timezone} if grain in LOCAL_GRAINS else {}
        if grain is Grain.MONTH:
            ops.append(UpdateOne(key, {"$setOnInsert": {**initial, **empty_month()}}, upsert=True))
            ops.append(UpdateOne(key, {"$inc": dict(inc)}))
            continue
        update: dict[str, Any] = {"$inc": dict(inc)}
        if initial:
            update["$setOnInsert"] = initial
        ops.append(UpdateOne(key, update, upsert=True))
    return ops


def summary_document(grain: Grain, key: Key, inc: Mapping[str, int], *, timezone: str) -> dict:
    """The document the upserts of `grain` build from nothing with `inc` (bulk loading)."""
    doc: dict[str, Any] = key_fields(key)
    if grain in LOCAL_GRAINS:
        doc["timezone"] = timezone
    if grain is Grain.MONTH:
        doc.update(empty_month())
    for path, value in inc.items():
        node: Any = doc
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(leaf)] += value
        else:
            node[leaf] = node.get(leaf, 0) + value
    return doc


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
            # Ordered: a monthly document's creation precedes its increments.
            await collection(grain).bulk_write(
                upserts(grain, incs, timezone=timezone),
                ordered=grain is Grain.MONTH,
                session=session,
            )
