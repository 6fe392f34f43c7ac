"""Recomputing summaries from raw transactions: the operator's check after a bug or restore.

For every shop in scope the hourly summaries of the UTC hours covering `[start, end)`, and
the daily summaries, daily demand and monthly flow days of the local dates lying entirely
inside those hours, are recomputed with aggregation pipelines over the raw transactions and
compared field by field with the stored ones (monthly documents only on the days in range).
With `apply`, the stored summaries of the range are replaced (in one transaction per shop and
grain; monthly documents keep their days outside the range). Raw transactions expire after
the retention period: rebuild only ranges whose transactions are still stored, or the
rebuild would erase history.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.analytics_store import (
    Grain,
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


async def _check(
    report: RebuildReport,
    scope: Scope,
    *,
    grain: Grain,
    expected: dict[Key, Doc],
    key_start: datetime,
    key_end: datetime,
    apply: bool,
    days: DayRange | None = None,
) -> None:
    """Compare the stored summaries of `grain` keyed in `[key_start, key_end)` with
    `expected`; with `apply`, replace them when anything differs."""
    stored = {
        _key(d): d for d in await stored_summaries(scope, grain=grain, start=key_start, end=key_end)
    }
    keys = sorted(set(expected) | set(stored), key=str)
    found = []
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
            report.checked[grain] += 1
    report.differences += found
    if apply and found:
        if grain is Grain.MONTH:
            assert days is not None
            merged = (_merged_month(stored.get(k), expected.get(k), days) for k in keys)
            docs = [d for d in merged if d is not None]
        else:
            docs = list(expected.values())
        await get_database().in_transaction(
            lambda session: replace_summaries(
                scope, grain=grain, start=key_start, end=key_end, docs=docs, session=session
            )
        )


async def rebuild_summaries(
    *, scope: Scope, start: datetime, end: datetime, apply: bool = False
) -> RebuildReport:
    """Compare (and with `apply`, replace) the summaries of `[start, end)` with raw data."""
    report = RebuildReport(applied=apply)
    hour_start = hour_of(start)
    hour_end = hour_of(end) + (timedelta(hours=1) if end > hour_of(end) else timedelta(0))
    for shop in await list_shops(scope=scope):
        shop_scope = scope.narrowed(shop_ids=[shop.id])
        hours = {"start": hour_start, "end": hour_end, "timezone": "UTC", "grain": Grain.HOUR}
        await _check(
            report,
            shop_scope,
            grain=Grain.HOUR,
            expected=expected_summaries(
                scope.org_id,
                await run_raw(raw_type_pipeline(shop_scope, **hours)),
                await run_raw(raw_slot_pipeline(shop_scope, **hours)),
                None,
            ),
            key_start=hour_start,
            key_end=hour_end,
            apply=apply,
        )
        tz = shop.timezone
        day_start = bucket_start(hour_start, Interval.DAY, tz)
        if day_start < hour_start:
            day_start = next_bucket(day_start, Interval.DAY, tz)
        day_end = bucket_start(hour_end, Interval.DAY, tz)
        if day_start >= day_end:
            continue
        raw = {"start": day_start, "end": day_end, "timezone": tz}
        day_types = await run_raw(raw_type_pipeline(shop_scope, grain=Grain.DAY, **raw))
        days = DayRange(as_local_date(day_start, tz), as_local_date(day_end, tz))
        await _check(
            report,
            shop_scope,
            grain=Grain.DAY,
            expected=expected_summaries(
                scope.org_id,
                day_types,
                await run_raw(raw_slot_pipeline(shop_scope, grain=Grain.DAY, **raw)),
                tz,
            ),
            key_start=days.lo,
            key_end=days.hi,
            apply=apply,
        )
        await _check(
            report,
            shop_scope,
            grain=Grain.MONTH,
            expected=expected_monthly(scope.org_id, day_types, tz),
            key_start=days.lo.replace(day=1),
            key_end=days.hi,
            apply=apply,
            days=days,
        )
        await _check(
            report,
            shop_scope,
            grain=Grain.DEMAND,
            expected=expected_demand(
                scope.org_id, await run_raw(raw_demand_pipeline(shop_scope, **raw)), tz
            ),
            key_start=days.lo,
            key_end=days.hi,
            apply=apply,
        )
    return report
