"""Recomputing summaries from raw transactions: the operator's check after a bug or restore.

For every shop in scope the hourly summaries of the UTC hours covering `[start, end)` and
the daily summaries of the local dates lying entirely inside those hours are recomputed with
aggregation pipelines over the raw transactions and compared field by field with the stored
ones. With `apply`, the stored summaries of the range are replaced (in one transaction per
shop and grain). Raw transactions expire after the retention period: rebuild only ranges
whose transactions are still stored, or the rebuild would erase history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.analytics_store import (
    Grain,
    raw_slot_pipeline,
    raw_type_pipeline,
    replace_summaries,
    run_raw,
    stored_summaries,
)
from models.db import get_database
from models.org_store import list_shops
from models.scope import Scope
from models.summary_store import hour_of
from resolvers.analytics.buckets import Interval, as_local_date, bucket_start, next_bucket

KEY_FIELDS = ("shop_id", "machine_id", "currency", "bucket")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Difference:
    grain: Grain
    key: dict[str, Any]
    stored: dict[str, Any] | None
    expected: dict[str, Any] | None


@dataclass
class RebuildReport:
    checked: dict[Grain, int] = field(default_factory=lambda: {Grain.HOUR: 0, Grain.DAY: 0})
    differences: list[Difference] = field(default_factory=list)
    applied: bool = False


def _content(doc: dict[str, Any]) -> dict[str, Any]:
    return {"n": doc.get("n", 0), "t": doc.get("t", {}), "s": doc.get("s", {})}


def expected_summaries(
    org_id: Any, type_rows: list[dict], slot_rows: list[dict], timezone: str | None
) -> dict[Key, dict[str, Any]]:
    """Summary documents built from the raw pipelines' rows, by key."""
    docs: dict[Key, dict[str, Any]] = {}

    def doc_for(ident: dict) -> dict[str, Any]:
        key = (ident["s"], ident["m"], ident["c"], ident["b"])
        if key not in docs:
            docs[key] = {
                "org_id": org_id,
                **dict(zip(KEY_FIELDS, key, strict=True)),
                "n": 0,
                "t": defaultdict(dict),
                "s": defaultdict(dict),
            }
            if timezone is not None:
                docs[key]["timezone"] = timezone
        return docs[key]

    for row in type_rows:
        doc = doc_for(row["_id"])
        doc["n"] += row["n"]
        doc["t"][row["_id"]["t"]] = {"n": row["n"], "a": row["a"]}
    for row in slot_rows:
        doc_for(row["_id"])["s"][row["_id"]["k"]][row["_id"]["t"]] = row["p"]
    for doc in docs.values():
        doc["t"], doc["s"] = dict(doc["t"]), dict(doc["s"])
    return docs


async def _check(
    report: RebuildReport,
    scope: Scope,
    *,
    grain: Grain,
    raw_start: datetime,
    raw_end: datetime,
    key_start: datetime,
    key_end: datetime,
    timezone: str,
    apply: bool,
) -> None:
    args = {"grain": grain, "start": raw_start, "end": raw_end, "timezone": timezone}
    expected = expected_summaries(
        scope.org_id,
        await run_raw(raw_type_pipeline(scope, **args)),
        await run_raw(raw_slot_pipeline(scope, **args)),
        timezone if grain is Grain.DAY else None,
    )
    stored = {
        tuple(d[f] for f in KEY_FIELDS): d
        for d in await stored_summaries(scope, grain=grain, start=key_start, end=key_end)
    }
    report.checked[grain] += len(set(expected) | set(stored))
    found = []
    for key in sorted(set(expected) | set(stored), key=str):
        have, want = stored.get(key), expected.get(key)
        if have is None or want is None or _content(have) != _content(want):
            found.append(
                Difference(
                    grain=grain,
                    key=dict(zip(KEY_FIELDS, key, strict=True)),
                    stored=_content(have) if have else None,
                    expected=_content(want) if want else None,
                )
            )
    report.differences += found
    if apply and found:
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
        await _check(
            report,
            shop_scope,
            grain=Grain.HOUR,
            raw_start=hour_start,
            raw_end=hour_end,
            key_start=hour_start,
            key_end=hour_end,
            timezone="UTC",
            apply=apply,
        )
        tz = shop.timezone
        day_start = bucket_start(hour_start, Interval.DAY, tz)
        if day_start < hour_start:
            day_start = next_bucket(day_start, Interval.DAY, tz)
        day_end = bucket_start(hour_end, Interval.DAY, tz)
        if day_start < day_end:
            await _check(
                report,
                shop_scope,
                grain=Grain.DAY,
                raw_start=day_start,
                raw_end=day_end,
                key_start=as_local_date(day_start, tz),
                key_end=as_local_date(day_end, tz),
                timezone=tz,
                apply=apply,
            )
    return report
