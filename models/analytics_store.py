"""Scoped aggregation pipelines over the summaries (and, for rebuilds, raw transactions).

Every pipeline starts with an index-backed `$match` on `org_id` plus the caller's scope (see
`Scope.filter`) and a bucket range, so its cost follows the number of summary documents in
the range, not the number of raw transactions. The builders are public so tests can `explain`
exactly what runs.

Short names, as in the stored summaries (models/summary.py), because the embedded database's
cost grows with the size of every value it moves: in documents `n` transactions, `a` amount,
`t` per type, `s` per slot, `p` pieces; in pipeline rows `_id.b` bucket, `_id.c` currency,
`_id.k` group key (shop, machine, slot or type), `_id.m` machine, `_id.s` shop, `_id.t` type,
and `e` an entry of `$objectToArray` (`e.k` its key, `e.v` its value).
"""

from __future__ import annotations

import calendar
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from models.ledger import TRANSACTION_TYPES, Transaction
from models.scope import Scope
from models.summary import Grain
from models.summary_store import ORGANIC_SIGN, collection


class FlowGroup(StrEnum):
    """What `flow_pipeline` groups by besides bucket and currency (the row's `_id.k`)."""

    NONE = "none"
    SHOP = "shop_id"
    MACHINE = "machine_id"
    SLOT = "slot"  # denomination slot (`N500`), from the summaries' `s` map
    TYPE = "type"  # transaction type, from the summaries' `t` map


def summary_match(scope: Scope, *, start: datetime, end: datetime | None) -> dict[str, Any]:
    """A plain filter on org + scope + bucket range (for finds and deletes of the rebuild)."""
    query = scope.filter()
    query["bucket"] = {"$gte": start} if end is None else {"$gte": start, "$lt": end}
    return {"$match": query}


# Matches nothing yet uses the (org_id, machine_id, time) index: ObjectIds are never zero.
NO_MACHINE = ObjectId(b"\x00" * 12)


def scoped_source(
    scope: Scope, *, field: str, start: datetime, end: datetime | None
) -> list[dict[str, Any]]:
    """The first stages of every pipeline: an index-backed `$match` on org + scope + time.

    A scope of one machine or one shop becomes an equality on it, served by the (org_id,
    machine_id|shop_id, time) index. A wider scope starts with org + time (the (org_id, time)
    index) and applies its `$in` in the next stage: the embedded database's planner scans the
    whole collection for an `$in` (or any extra field) before a range, and `$unionWith`
    branches per shop cost it seconds. On MongoDB the same pipelines stay index-backed.
    """
    window = {"$gte": start} if end is None else {"$gte": start, "$lt": end}
    first: dict[str, Any] = {"org_id": scope.org_id}
    rest: dict[str, Any] = {}
    machines, shops = scope.machine_ids, scope.shop_ids
    if machines is not None and len(machines) <= 1:
        first["machine_id"] = next(iter(machines), NO_MACHINE)
        if shops is not None:
            rest["shop_id"] = {"$in": sorted(shops)}
    elif machines is None and shops is not None and len(shops) <= 1:
        if shops:
            first["shop_id"] = next(iter(shops))
        else:
            first["machine_id"] = NO_MACHINE
    else:
        rest = {k: v for k, v in scope.filter().items() if k != "org_id"}
    first[field] = window
    return [{"$match": first}] + ([{"$match": rest}] if rest else [])


def summary_source(scope: Scope, *, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
    return scoped_source(scope, field="bucket", start=start, end=end)


def summaries_in_scope(
    scope: Scope, *, start: datetime, end: datetime | None, currency: str | None = None
) -> list[dict[str, Any]]:
    """The summary documents in scope with `start <= bucket < end`, in `currency` if given.

    The monthly flow and daily demand are read with exactly this, no server-side grouping:
    they are compact, and folding their values in the application is cheaper than
    `$objectToArray`/`$unwind`/`$group` on the embedded database (docs/performance.md).
    """
    stages = summary_source(scope, start=start, end=end)
    if currency is not None:
        # A stage of its own: the embedded planner falls back to a collection scan when the
        # currency equality sits in the first $match (caught by the explain test).
        stages.append({"$match": {"currency": currency}})
    return stages


def bucket_expression(grain: Grain, unit: str, timezone: str) -> Any:
    """The bucket start of a summary document for `unit` (hour/day/week/month).

    Hourly documents are truncated in `timezone`; daily documents hold a local date at
    00:00 UTC, so they are truncated in UTC and stay local dates.
    """
    if grain is Grain.HOUR and unit == "hour":
        return "$bucket"
    if grain is Grain.DAY and unit == "day":
        return "$bucket"
    trunc: dict[str, Any] = {
        "date": "$bucket",
        "unit": unit,
        "timezone": timezone if grain is Grain.HOUR else "UTC",
    }
    if unit == "week":
        trunc["startOfWeek"] = "monday"
    return {"$dateTrunc": trunc}


def flow_pipeline(
    scope: Scope,
    *,
    grain: Grain,
    start: datetime,
    end: datetime,
    unit: str,
    timezone: str,
    group_by: FlowGroup,
    currency: str | None,
) -> list[dict[str, Any]]:
    """Sums per (bucket, currency, group key). Rows: `_id: {b, c, k}`, `n` and one field per
    transaction type: amounts, or pieces for SLOT, or `a` for TYPE."""
    stages = summaries_in_scope(scope, start=start, end=end, currency=currency)
    bucket = bucket_expression(grain, unit, timezone)
    per_bucket = {"b": bucket, "c": "$currency"}
    if group_by is FlowGroup.TYPE:
        stages += sums_per_entry(
            "t", per_bucket, {"n": {"$sum": "$e.v.n"}, "a": {"$sum": "$e.v.a"}}
        )
    elif group_by is FlowGroup.SLOT:
        stages += sums_per_entry("s", per_bucket, _pieces_per_type())
    else:
        key = None if group_by is FlowGroup.NONE else f"${group_by.value}"
        stages.append(
            {
                "$group": {
                    "_id": {"b": bucket, "c": "$currency", "k": key},
                    "n": {"$sum": "$n"},
                    **{t: {"$sum": f"$t.{t}.a"} for t in TRANSACTION_TYPES},
                }
            }
        )
    return stages


def slot_flow_pipeline(scope: Scope, *, start: datetime) -> list[dict[str, Any]]:
    """Pieces per (machine, slot, type) in hourly summaries from `start` on."""
    return [
        *summary_source(scope, start=start, end=None),
        *sums_per_entry("s", {"m": "$machine_id"}, _pieces_per_type()),
    ]


def sums_per_entry(
    map_field: str, keys: dict[str, Any], sums: dict[str, Any]
) -> list[dict[str, Any]]:
    """Stages that split the map `map_field` of each document into its entries `e` and total
    `sums` (accumulators over `e.v`) per `keys` (row name -> expression) and entry key: rows
    `_id: {**keys, k}`."""
    return [
        {"$project": {**keys, "e": {"$objectToArray": f"${map_field}"}}},
        {"$unwind": "$e"},
        {"$group": {"_id": {**{name: f"${name}" for name in keys}, "k": "$e.k"}, **sums}},
    ]


def _pieces_per_type() -> dict[str, Any]:
    """The accumulators of a slot entry's pieces, one per transaction type."""
    return {t: {"$sum": f"$e.v.{t}"} for t in TRANSACTION_TYPES}


async def run(grain: Grain, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await collection(grain).aggregate(pipeline)
    return await cursor.to_list(length=None)


# --- rebuild from raw transactions -------------------------------------------------------


def raw_bucket(grain: Grain, timezone: str) -> Any:
    if grain is Grain.HOUR:
        return {"$dateTrunc": {"date": "$occurred_at", "unit": "hour"}}
    local_date = {
        "$dateToString": {"date": "$occurred_at", "format": "%Y-%m-%d", "timezone": timezone}
    }
    return {"$dateFromString": {"dateString": local_date, "timezone": "UTC"}}


# A line's slot key (`N500`, `C100`), as the summaries name it.
RAW_SLOT = {"$concat": ["$lines.kind", {"$toString": "$lines.denomination"}]}


def raw_key(grain: Grain, timezone: str) -> dict[str, Any]:
    """The summary key of a raw transaction: shop, machine, currency and bucket."""
    return {
        "s": "$shop_id",
        "m": "$machine_id",
        "c": "$currency",
        "b": raw_bucket(grain, timezone),
    }


def raw_source(scope: Scope, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Raw transactions in scope with `start <= occurred_at < end` (served by the ascending
    time indexes of `models.ledger.Transaction`)."""
    return scoped_source(scope, field="occurred_at", start=start, end=end)


def raw_type_pipeline(
    scope: Scope, *, grain: Grain, start: datetime, end: datetime, timezone: str
) -> list[dict[str, Any]]:
    """Count and amount per (shop, machine, currency, bucket, type) from raw transactions."""
    return [
        *raw_source(scope, start=start, end=end),
        {
            "$group": {
                "_id": {**raw_key(grain, timezone), "t": "$type"},
                "n": {"$sum": 1},
                "a": {"$sum": "$amount"},
            }
        },
    ]


def raw_slot_pipeline(
    scope: Scope, *, grain: Grain, start: datetime, end: datetime, timezone: str
) -> list[dict[str, Any]]:
    """Pieces per (shop, machine, currency, bucket, type, slot) from raw transactions."""
    return [
        *raw_source(scope, start=start, end=end),
        {"$unwind": "$lines"},
        {
            "$group": {
                "_id": {**raw_key(grain, timezone), "t": "$type", "k": RAW_SLOT},
                "p": {"$sum": "$lines.count"},
            }
        },
    ]


def raw_demand_pipeline(
    scope: Scope, *, start: datetime, end: datetime, timezone: str
) -> list[dict[str, Any]]:
    """Organic net pieces per (shop, machine, currency, local date, slot@local hour) from raw
    transactions: the daily demand documents' content."""
    sign = {
        "$switch": {
            "branches": [
                {"case": {"$eq": ["$type", t]}, "then": v} for t, v in ORGANIC_SIGN.items()
            ],
            "default": 0,
        }
    }
    local_hour = {"$toString": {"$hour": {"date": "$occurred_at", "timezone": timezone}}}
    return [
        *raw_source(scope, start=start, end=end),
        {"$match": {"type": {"$in": sorted(ORGANIC_SIGN)}}},
        {"$unwind": "$lines"},
        {
            "$group": {
                "_id": {
                    **raw_key(Grain.DAY, timezone),
                    "k": {"$concat": [RAW_SLOT, "@", local_hour]},
                },
                "p": {"$sum": {"$multiply": ["$lines.count", sign]}},
            }
        },
    ]


async def run_raw(
    pipeline: list[dict[str, Any]], *, session: AsyncClientSession | None = None
) -> list[dict[str, Any]]:
    cursor = await Transaction.get_pymongo_collection().aggregate(pipeline, session=session)
    return await cursor.to_list(length=None)


async def stored_summaries(
    scope: Scope,
    *,
    grain: Grain,
    start: datetime,
    end: datetime,
    session: AsyncClientSession | None = None,
) -> list[dict[str, Any]]:
    """Summary documents in scope with `start <= bucket < end`."""
    query = summary_match(scope, start=start, end=end)["$match"]
    return await collection(grain).find(query, session=session).to_list(length=None)


async def days_with_data(
    scope: Scope,
    *,
    occurred: tuple[datetime, datetime],
    keys: tuple[datetime, datetime],
    timezone: str,
) -> dict[ObjectId, set[datetime]]:
    """Machine -> the days with raw transactions (`occurred_at` in `occurred`) or summaries
    (`bucket` in `keys`): UTC dates and the hourly summaries when `timezone` is "UTC",
    otherwise local dates of `timezone` and the daily grains; dates as 00:00 UTC, the
    summaries' keys. The rebuild's chunks: a machine's day without any is skipped."""
    found: dict[ObjectId, set[datetime]] = {}

    def add(machine_id: ObjectId, date: datetime) -> None:
        if keys[0] <= date < keys[1]:
            found.setdefault(machine_id, set()).add(date)

    async def grouped(coll: Any, source: list[dict[str, Any]], day: Any) -> None:
        group = {"$group": {"_id": {"m": "$machine_id", "b": day}}}
        async for row in await coll.aggregate([*source, group]):
            add(row["_id"]["m"], row["_id"]["b"])

    start, end = occurred
    await grouped(
        Transaction.get_pymongo_collection(),
        raw_source(scope, start=start, end=end),
        raw_bucket(Grain.DAY, timezone),
    )
    if timezone == "UTC":
        by_day = {"$dateTrunc": {"date": "$bucket", "unit": "day"}}
        await grouped(collection(Grain.HOUR), summary_source(scope, start=start, end=end), by_day)
        return found
    for grain in (Grain.DAY, Grain.DEMAND):
        source = summary_source(scope, start=keys[0], end=keys[1])
        await grouped(collection(grain), source, "$bucket")
    months = summary_match(scope, start=keys[0].replace(day=1), end=keys[1])["$match"]
    fields = {"machine_id": 1, "bucket": 1, "n": 1}
    async for doc in collection(Grain.MONTH).find(months, fields):
        length = calendar.monthrange(doc["bucket"].year, doc["bucket"].month)[1]
        for index, count in enumerate(doc["n"][:length]):
            if count:
                add(doc["machine_id"], doc["bucket"].replace(day=index + 1))
    return found


async def replace_summaries(
    scope: Scope,
    *,
    grain: Grain,
    start: datetime,
    end: datetime,
    docs: list[dict[str, Any]],
    session: AsyncClientSession,
) -> None:
    """Replace every summary in scope and range by `docs` (the rebuild's `--apply`)."""
    coll = collection(grain)
    await coll.delete_many(summary_match(scope, start=start, end=end)["$match"], session=session)
    if docs:
        await coll.insert_many(docs, ordered=False, session=session)
