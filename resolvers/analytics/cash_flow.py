"""`cashFlow`: zero-filled time series of cash movements, per currency and group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bson import ObjectId

from auth.principal import Principal
from models.analytics_store import FlowGroup, Grain, flow_pipeline, run, summaries_in_scope
from models.currencies import parse_slot
from models.ledger import FLOW_SIGN, TRANSACTION_TYPES
from models.org_store import get_organization, list_shops
from models.scope import Scope
from models.summary_store import MONTH_DAYS
from resolvers.analytics.buckets import (
    Interval,
    as_local_date,
    bucket_starts,
    local_date_instant,
    next_bucket,
)
from resolvers.analytics.errors import AnalyticsErrorCode
from resolvers.errors import CommonErrorCode, ServiceError, not_found
from resolvers.timestamps import client_instant
from resolvers.validation import check_timezone

MAX_BUCKETS = 1000


class GroupKey(StrEnum):
    """How `cashFlow` splits its series (the API's CashFlowGroupBy)."""

    NONE = "NONE"
    SHOP = "SHOP"
    MACHINE = "MACHINE"
    DENOMINATION = "DENOMINATION"
    TYPE = "TYPE"

    @property
    def flow_group(self) -> FlowGroup:
        return FlowGroup[{"DENOMINATION": "SLOT"}.get(self.name, self.name)]


@dataclass
class CashFlowSeries:
    """One line of a chart: amounts per bucket in one currency (minor units).

    `key` is the shop id, machine id, transaction type or slot (`N500`) of the group; None
    for NONE. `count` is transactions per bucket (None for DENOMINATION, where a transaction
    can touch several denominations); `pieces` is the net pieces per bucket (DENOMINATION only).
    """

    currency: str
    key: str | None
    values: dict[str, list[int]]
    count: list[int] | None
    pieces: list[int] | None = None
    group_by: GroupKey = GroupKey.NONE

    @property
    def net(self) -> list[int]:
        columns = [[FLOW_SIGN[t] * v for v in self.values[t]] for t in TRANSACTION_TYPES]
        return [sum(col) for col in zip(*columns, strict=True)]


@dataclass
class CashFlow:
    interval: Interval
    group_by: GroupKey
    timezone: str
    buckets: list[datetime]
    series: list[CashFlowSeries] = field(default_factory=list)


async def resolve_timezone(scope: Scope, requested: str | None) -> str:
    """The requested zone (validated) or the organization's."""
    if requested is not None:
        error = check_timezone("timezone", requested)
        if error:
            raise ServiceError.of(CommonErrorCode.BAD_TIMEZONE, error.message, field="timezone")
        return requested
    org = await get_organization(scope=scope)
    if org is None:
        raise not_found("organization")
    return org.timezone


async def choose_grain(
    scope: Scope, interval: Interval, timezone: str, group_by: GroupKey
) -> Grain:
    """The fewest documents that answer: hourly summaries for HOUR buckets or when a shop in
    scope keeps its local-date summaries in another zone; else the monthly flow rollup, or
    the daily summaries when grouping by denomination or type (the rollup keeps neither
    pieces nor counts per type)."""
    if interval is Interval.HOUR:
        return Grain.HOUR
    shops = await list_shops(scope=scope, shop_ids=None)
    if any(s.timezone != timezone for s in shops):
        return Grain.HOUR
    per_type = group_by in (GroupKey.DENOMINATION, GroupKey.TYPE)
    return Grain.DAY if per_type else Grain.MONTH


async def cash_flow(
    *,
    principal: Principal,
    start: datetime,
    end: datetime,
    interval: Interval,
    group_by: GroupKey,
    shop_ids: list[ObjectId] | None,
    machine_ids: list[ObjectId] | None,
    currency: str | None,
    timezone: str | None,
) -> CashFlow:
    """Sums per bucket intersecting `[start, end)` (whole buckets), one series per
    (currency, group), every bucket present (zero when nothing moved)."""
    start, end = client_instant("from", start), client_instant("to", end)
    if start >= end:
        raise ServiceError.of(AnalyticsErrorCode.BAD_RANGE, "from must be before to")
    scope = principal.scope.narrowed(shop_ids=shop_ids, machine_ids=machine_ids)
    tz = await resolve_timezone(scope, timezone)
    buckets = bucket_starts(start, end, interval, tz, limit=MAX_BUCKETS)
    if len(buckets) > MAX_BUCKETS:
        raise ServiceError.of(
            AnalyticsErrorCode.BAD_RANGE,
            f"at most {MAX_BUCKETS} buckets per query; choose a shorter range or a longer interval",
        )
    flow = CashFlow(interval=interval, group_by=group_by, timezone=tz, buckets=buckets)
    grain = await choose_grain(scope, interval, tz, group_by)
    last_end = next_bucket(buckets[-1], interval, tz)
    if grain is Grain.MONTH:
        flow.series = await _from_monthly_rollup(scope, flow, last_end, currency)
        return flow
    if grain is Grain.DAY:
        lo, hi = as_local_date(buckets[0], tz), as_local_date(last_end, tz)
    else:
        lo, hi = buckets[0], last_end
    rows = await run(
        grain,
        flow_pipeline(
            scope,
            grain=grain,
            start=lo,
            end=hi,
            unit=interval.value.lower(),
            timezone=tz,
            group_by=group_by.flow_group,
            currency=currency,
        ),
    )
    flow.series = _assemble(rows, flow, grain)
    return flow


def local_dates(start: datetime, end: datetime) -> Iterator[datetime]:
    """Local-date keys (date at 00:00 UTC) from `start` up to, excluding, `end`."""
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def month_key(local_date: datetime) -> datetime:
    """The monthly-flow key of the month containing a local-date key."""
    return local_date.replace(day=1)


async def _from_monthly_rollup(
    scope: Scope, flow: CashFlow, last_end: datetime, currency: str | None
) -> list[CashFlowSeries]:
    """Series folded from the monthly flow documents of the buckets' local dates."""
    tz = flow.timezone
    lo, hi = as_local_date(flow.buckets[0], tz), as_local_date(last_end, tz)
    # Which bucket every local date of the range falls in, per month and day index (-1:
    # outside the range): how a monthly document holds its values.
    targets: dict[datetime, list[int]] = defaultdict(lambda: [-1] * MONTH_DAYS)
    i = 0
    for day in local_dates(lo, hi):
        instant = local_date_instant(day, tz)
        while i + 1 < len(flow.buckets) and flow.buckets[i + 1] <= instant:
            i += 1
        targets[month_key(day)][day.day - 1] = i
    docs = await run(
        Grain.MONTH, summaries_in_scope(scope, start=month_key(lo), end=hi, currency=currency)
    )
    size = len(flow.buckets)
    series: dict[tuple[str, str | None], CashFlowSeries] = {}
    group_field = {GroupKey.SHOP: "shop_id", GroupKey.MACHINE: "machine_id"}.get(flow.group_by)
    for doc in docs:
        target = targets[doc["bucket"]]
        counted = [(at, n) for at, n in zip(target, doc["n"], strict=True) if n and at >= 0]
        if not counted:
            continue  # a month that moved only outside the range: no series of its own
        key = None if group_field is None else str(doc[group_field])
        s = series.get((doc["currency"], key))
        if s is None:
            s = series[(doc["currency"], key)] = CashFlowSeries(
                currency=doc["currency"],
                key=key,
                values={t: [0] * size for t in TRANSACTION_TYPES},
                group_by=flow.group_by,
                count=[0] * size,
            )
        count = s.count
        assert count is not None
        for at, n in counted:
            count[at] += n
        for type_, amounts in doc["a"].items():
            values = s.values[type_]
            for at, amount in zip(target, amounts, strict=True):
                if amount and at >= 0:
                    values[at] += amount
    return [series[k] for k in sorted(series, key=lambda k: (k[0], k[1] or ""))]


def _assemble(rows: list[dict], flow: CashFlow, grain: Grain) -> list[CashFlowSeries]:
    index = {b: i for i, b in enumerate(flow.buckets)}
    size = len(flow.buckets)
    series: dict[tuple[str, str | None], CashFlowSeries] = {}
    denominations = flow.group_by is GroupKey.DENOMINATION
    for row in rows:
        ident = row["_id"]
        bucket = ident["b"]
        if grain is Grain.DAY:
            bucket = local_date_instant(bucket, flow.timezone)
        i = index.get(bucket)
        if i is None:
            continue
        key = None if ident.get("k") is None else str(ident["k"])
        s = series.get((ident["c"], key))
        if s is None:
            s = CashFlowSeries(
                currency=ident["c"],
                key=key,
                values={t: [0] * size for t in TRANSACTION_TYPES},
                group_by=flow.group_by,
                count=None if denominations else [0] * size,
                pieces=[0] * size if denominations else None,
            )
            series[(ident["c"], key)] = s
        if flow.group_by is GroupKey.TYPE:
            s.values[ident["k"]][i] += row["a"]
        elif denominations:
            _, denomination = parse_slot(ident["k"])
            for t in TRANSACTION_TYPES:
                s.values[t][i] += row[t] * denomination
                assert s.pieces is not None
                s.pieces[i] += FLOW_SIGN[t] * row[t]
        else:
            for t in TRANSACTION_TYPES:
                s.values[t][i] += row[t]
        if s.count is not None:
            s.count[i] += row["n"]
    return [series[k] for k in sorted(series, key=lambda k: (k[0], k[1] or ""))]
