"""Maintaining the summaries (hourly, daily, monthly flow, daily demand) from transactions.

`apply_to_summaries` runs inside the ingest transaction, so summaries change atomically with
the batch: a retried or failed batch leaves them untouched, a committed one counts each
transaction exactly once. Updates are `$inc`s, which commute, so concurrent batches of
different machines (or a retried transaction) need no coordination; a summary's first
transaction inserts it whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.currencies import slot_key
from models.duplicates import duplicates_raised_as_duplicate_key
from models.ledger import FLOW_SIGN, ORGANIC_TYPES, TRANSACTION_TYPES
from models.scope import Scope
from models.summary import SUMMARY_DOCUMENTS, SUMMARY_KEY, SUMMARY_UNIQUE_INDEX, Grain
from models.timezones import zone_info

Key = tuple[ObjectId, ObjectId, ObjectId, str, datetime]
Increments = dict[Grain, dict[Key, dict[str, int]]]
ORGANIC_SIGN = {t: FLOW_SIGN[t] for t in ORGANIC_TYPES}
MONTH_DAYS = 31
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


def summary_writes(
    grain: Grain, incs: Mapping[Key, Mapping[str, int]], existing: set[Key], *, timezone: str
) -> list[Any]:
    """The bulk writes that add `incs` to the summaries of `grain`: an `$inc` of each
    document in `existing`, an insert of each other one, built whole (`summary_document`).

    Inserting a new summary instead of upserting it halves the cost of a batch that opens
    many summaries (a replayed outage), the largest transaction the service runs."""
    ops: list[Any] = []
    for ident, inc in incs.items():
        if ident in existing:
            ops.append(UpdateOne(key_fields(ident), {"$inc": dict(inc)}))
        else:
            ops.append(InsertOne(summary_document(grain, ident, inc, timezone=timezone)))
    return ops


async def existing_summaries(
    grain: Grain, keys: Iterable[Key], *, session: AsyncClientSession
) -> set[Key]:
    """Which of `keys` have a document of `grain` (one query, on the unique index)."""
    keys = set(keys)
    query: dict[str, Any] = {}
    for name in SUMMARY_UNIQUE_INDEX:  # its order: the planner uses the index's prefix
        values = {key_fields(k)[name] for k in keys}
        query[name] = values.pop() if len(values) == 1 else {"$in": list(values)}
    found = collection(grain).find(query, {f: 1 for f in SUMMARY_KEY}, session=session)
    return {k async for doc in found if (k := tuple(doc[f] for f in SUMMARY_KEY)) in keys}


def summary_document(grain: Grain, key: Key, inc: Mapping[str, int], *, timezone: str) -> dict:
    """The document of `grain` at `key` holding only `inc` (a new summary, bulk loading)."""
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
            existing = await existing_summaries(grain, incs, session=session)
            # Two first inserts of one summary can race on its unique key:
            # DuplicateKeyError, and the batch is retried.
            with duplicates_raised_as_duplicate_key():
                await collection(grain).bulk_write(
                    summary_writes(grain, incs, existing, timezone=timezone),
                    ordered=False,
                    session=session,
                )
