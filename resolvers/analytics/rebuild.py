"""Recomputing summaries from raw transactions: the operator's check after a bug or restore.

For every shop in scope the hourly summaries of the UTC hours covering `[start, end)`, and
the daily summaries, daily demand and monthly flow days of the local dates lying entirely
inside those hours, are recomputed with aggregation pipelines over the raw transactions and
compared field by field with the stored ones (monthly documents only on the days in range).
The work goes in chunks of one machine and one day (a UTC day of hours; a local date of the
daily grains), each read and, with `apply`, replaced in one snapshot transaction: a chunk
stays far below the transaction lifetime and cache limits whatever the range, and it is safe
while ingest runs. The chunk's raw transactions and summaries are read at one snapshot; a
batch committed after it changed summaries the chunk rewrites, so one of the two
transactions fails with a write conflict and is retried on fresh data, and nothing a batch
added is overwritten. Monthly documents keep their days outside the chunk. Raw transactions
expire after the retention period: rebuild only ranges whose transactions are still stored,
or the rebuild would erase history.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from models.analytics_store import (
    Grain,
    days_with_data,
    raw_demand_pipeline,
    raw_slot_pipeline,
    raw_type_pipeline,
    replace_summaries,
    run_raw,
    stored_summaries,
)
from models.db import get_database
from models.org_store import list_shops
from models.scope import Scope
from models.summary_store import MONTH_DAYS, empty_month, hour_of
from resolvers.analytics.buckets import Interval, as_local_date, bucket_start, next_bucket

KEY_FIELDS = ("shop_id", "machine_id", "currency", "bucket")
Key = tuple[Any, ...]
Doc = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    grain: Grain
    key: dict[str, Any]
    stored: dict[str, Any] | None
    expected: dict[str, Any] | None


@dataclass
class RebuildReport:
    checked: dict[Grain, int] = field(default_factory=lambda: dict.fromkeys(Grain, 0))
    differences: list[Difference] = field(default_factory=list)
    applied: bool = False


@dataclass(frozen=True)
class DayRange:
    """Local-date keys `[lo, hi)` lying entirely inside the checked hours."""

    lo: datetime
    hi: datetime

    def indices(self, month: datetime) -> list[int]:
        """The day indices (day of month - 1) of `month` inside the range."""
        length = calendar.monthrange(month.year, month.month)[1]
        return [d - 1 for d in range(1, length + 1) if self.lo <= month.replace(day=d) < self.hi]


def _content(grain: Grain, doc: Doc | None, days: DayRange | None = None) -> Doc | None:
    """What a summary says (without its key), limited for monthly documents to `days`."""
    if doc is None:
        return None
    if grain is Grain.DEMAND:
        return {"p": doc.get("p", {})}
    if grain is Grain.MONTH:
        assert days is not None
        inside = days.indices(doc["bucket"])
        content: Doc = {
            "n": [doc["n"][i] for i in inside],
            "a": {t: [values[i] for i in inside] for t, values in sorted(doc["a"].items())},
        }
        return content if any(content["n"]) else None
    return {"n": doc.get("n", 0), "t": doc.get("t", {}), "s": doc.get("s", {})}


def _key(doc: Doc) -> Key:
    return tuple(doc[f] for f in KEY_FIELDS)


def _doc_in(docs: dict[Key, Doc], org_id: Any, ident: dict, timezone: str | None) -> Doc:
    """The document of a raw pipeline row's key (`_id`: s, m, c, b) in `docs`, added with
    its key fields (and `timezone`, if given) when missing."""
    key = (ident["s"], ident["m"], ident["c"], ident["b"])
    if key not in docs:
        docs[key] = {"org_id": org_id, **dict(zip(KEY_FIELDS, key, strict=True))}
        if timezone is not None:
            docs[key]["timezone"] = timezone
    return docs[key]


def expected_summaries(
    org_id: Any, type_rows: list[dict], slot_rows: list[dict], timezone: str | None
) -> dict[Key, Doc]:
    """Hourly or daily summary documents built from the raw pipelines' rows, by key."""
    docs: dict[Key, Doc] = {}

    def doc_for(ident: dict) -> Doc:
        doc = _doc_in(docs, org_id, ident, timezone)
        if "n" not in doc:
            doc.update(n=0, t=defaultdict(dict), s=defaultdict(dict))
        return doc

    for row in type_rows:
        doc = doc_for(row["_id"])
        doc["n"] += row["n"]
        doc["t"][row["_id"]["t"]] = {"n": row["n"], "a": row["a"]}
    for row in slot_rows:
        doc_for(row["_id"])["s"][row["_id"]["k"]][row["_id"]["t"]] = row["p"]
    for doc in docs.values():
        doc["t"], doc["s"] = dict(doc["t"]), dict(doc["s"])
    return docs


def expected_monthly(org_id: Any, day_type_rows: list[dict], timezone: str) -> dict[Key, Doc]:
    """Monthly flow documents (zero outside the days the rows cover) from per-local-date
    type rows."""
    docs: dict[Key, Doc] = {}
    for row in day_type_rows:
        ident = dict(row["_id"])
        day = ident["b"]
        ident["b"] = day.replace(day=1)
        doc = _doc_in(docs, org_id, ident, timezone)
        if "n" not in doc:
            doc.update(empty_month())
        doc["n"][day.day - 1] += row["n"]
        doc["a"][ident["t"]][day.day - 1] = row["a"]
    return docs


def expected_demand(org_id: Any, demand_rows: list[dict], timezone: str) -> dict[Key, Doc]:
    """Daily demand documents from the raw demand pipeline's rows."""
    docs: dict[Key, Doc] = {}
    for row in demand_rows:
        ident = row["_id"]
        doc = _doc_in(docs, org_id, ident, timezone)
        doc.setdefault("p", {})[ident["k"]] = row["p"]
    return docs


def _merged_month(stored: Doc | None, expected: Doc | None, days: DayRange) -> Doc | None:
    """A monthly document: the stored days outside `days`, the expected ones inside."""
    base = stored or expected
    assert base is not None
    doc: Doc = {k: v for k, v in base.items() if k not in ("_id", "n", "a")}
    doc.update(empty_month())
    inside = set(days.indices(base["bucket"]))
    for source, keep in ((stored, lambda i: i not in inside), (expected, lambda i: i in inside)):
        if source is None:
            continue
        for i in filter(keep, range(MONTH_DAYS)):
            doc["n"][i] = source["n"][i]
            for type_, values in source["a"].items():
                doc["a"][type_][i] = values[i]
    return doc if any(doc["n"]) else None


@dataclass(frozen=True)
class _Checked:
    grain: Grain
    checked: int
    differences: list[Difference]


async def _check(
    session: AsyncClientSession,
    scope: Scope,
    *,
    grain: Grain,
    expected: dict[Key, Doc],
    key_start: datetime,
    key_end: datetime,
    apply: bool,
    days: DayRange | None = None,
) -> _Checked:
    """Compare the stored summaries of `grain` keyed in `[key_start, key_end)` with
    `expected`, in the chunk's transaction; with `apply`, replace them when anything
    differs."""
    stored = {
        _key(d): d
        for d in await stored_summaries(
            scope, grain=grain, start=key_start, end=key_end, session=session
        )
    }
    keys = sorted(set(expected) | set(stored), key=str)
    found = []
    checked = 0
    for key in keys:
        have = _content(grain, stored.get(key), days)
        want = _content(grain, expected.get(key), days)
        if have != want:
            found.append(
                Difference(
                    grain=grain,
                    key=dict(zip(KEY_FIELDS, key, strict=True)),
                    stored=have,
                    expected=want,
                )
            )
        if have is not None or want is not None:
            checked += 1
    if apply and found:
        if grain is Grain.MONTH:
            assert days is not None
            merged = (_merged_month(stored.get(k), expected.get(k), days) for k in keys)
            docs = [d for d in merged if d is not None]
        else:
            docs = list(expected.values())
        await replace_summaries(
            scope, grain=grain, start=key_start, end=key_end, docs=docs, session=session
        )
    return _Checked(grain, checked, found)


async def _hours(
    session: AsyncClientSession, scope: Scope, start: datetime, end: datetime, apply: bool
) -> list[_Checked]:
    """The chunk of one machine's hours `[start, end)` (within one UTC day)."""
    hours = {"start": start, "end": end, "timezone": "UTC", "grain": Grain.HOUR}
    expected = expected_summaries(
        scope.org_id,
        await run_raw(raw_type_pipeline(scope, **hours), session=session),
        await run_raw(raw_slot_pipeline(scope, **hours), session=session),
        None,
    )
    return [
        await _check(
            session, scope, grain=Grain.HOUR, expected=expected, key_start=start, key_end=end,
            apply=apply,
        )
    ]  # fmt: skip


async def _day(
    session: AsyncClientSession, scope: Scope, tz: str, start: datetime, end: datetime,
    apply: bool,
) -> list[_Checked]:  # fmt: skip
    """The chunk of one machine's local date `[start, end)`: daily summary, the date's day in
    the monthly flow, daily demand."""
    raw = {"start": start, "end": end, "timezone": tz}
    day_types = await run_raw(raw_type_pipeline(scope, grain=Grain.DAY, **raw), session=session)
    day_slots = await run_raw(raw_slot_pipeline(scope, grain=Grain.DAY, **raw), session=session)
    demand = await run_raw(raw_demand_pipeline(scope, **raw), session=session)
    days = DayRange(as_local_date(start, tz), as_local_date(end, tz))
    org = scope.org_id
    return [
        await _check(
            session, scope, grain=Grain.DAY, apply=apply,
            expected=expected_summaries(org, day_types, day_slots, tz),
            key_start=days.lo, key_end=days.hi,
        ),
        await _check(
            session, scope, grain=Grain.MONTH, apply=apply,
            expected=expected_monthly(org, day_types, tz),
            key_start=days.lo.replace(day=1), key_end=days.hi, days=days,
        ),
        await _check(
            session, scope, grain=Grain.DEMAND, apply=apply,
            expected=expected_demand(org, demand, tz), key_start=days.lo, key_end=days.hi,
        ),
    ]  # fmt: skip


def _utc_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """`[start, end)` cut at UTC midnights."""
    pieces = []
    while start < end:
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        pieces.append((start, min(midnight, end)))
        start = min(midnight, end)
    return pieces


def _local_days(start: datetime, end: datetime, tz: str) -> list[tuple[datetime, datetime]]:
    """The local dates of `tz` lying entirely inside `[start, end)`, as instant ranges."""
    day = bucket_start(start, Interval.DAY, tz)
    if day < start:
        day = next_bucket(day, Interval.DAY, tz)
    pieces = []
    while (following := next_bucket(day, Interval.DAY, tz)) <= end:
        pieces.append((day, following))
        day = following
    return pieces


async def rebuild_summaries(
    *, scope: Scope, start: datetime, end: datetime, apply: bool = False
) -> RebuildReport:
    """Compare (and with `apply`, replace) the summaries of `[start, end)` with raw data, one
    machine and day at a time (see the module docstring)."""
    report = RebuildReport(applied=apply)
    hour_start = hour_of(start)
    hour_end = hour_of(end) + (timedelta(hours=1) if end > hour_of(end) else timedelta(0))
    database = get_database()

    async def run(chunk: Any) -> None:
        # A retried transaction runs the chunk again: count only the committed attempt.
        for result in await database.in_transaction(chunk):
            report.checked[result.grain] += result.checked
            report.differences += result.differences

    hour_chunks = _utc_days(hour_start, hour_end)
    for shop in await list_shops(scope=scope):
        shop_scope = scope.narrowed(shop_ids=[shop.id])
        tz = shop.timezone
        day_chunks = _local_days(hour_start, hour_end, tz)
        active_hours = await days_with_data(
            shop_scope,
            occurred=(hour_start, hour_end),
            keys=(hour_start.replace(hour=0), hour_end),
            timezone="UTC",
        )
        active_days: dict[ObjectId, set[datetime]] = {}
        if day_chunks:
            first, last = day_chunks[0][0], day_chunks[-1][1]
            active_days = await days_with_data(
                shop_scope,
                occurred=(first, last),
                keys=(as_local_date(first, tz), as_local_date(last, tz)),
                timezone=tz,
            )
        for machine_id in sorted(set(active_hours) | set(active_days)):
            one = shop_scope.narrowed(machine_ids=[machine_id])
            for lo, hi in hour_chunks:
                if lo.replace(hour=0) in active_hours.get(machine_id, ()):
                    await run(partial(_hours, scope=one, start=lo, end=hi, apply=apply))
            for lo, hi in day_chunks:
                if as_local_date(lo, tz) in active_days.get(machine_id, ()):
                    await run(partial(_day, scope=one, tz=tz, start=lo, end=hi, apply=apply))
    return report
