"""The cashFlow query against expectations computed in Python from the raw records sent:
DST-day buckets, every interval and grouping, currencies never mixed, zero-filled and empty
ranges, refused ranges."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.analytics_helpers import BERLIN, World, utc
from tests.analytics_queries import (
    CASH_FLOW,
    assert_matches,
    flow,
    parse,
    seeded_world,  # noqa: F401 (fixture `world`)
    world_client,
)
from tests.factories import gql


@pytest.mark.parametrize("group_by", ["NONE", "SHOP", "MACHINE", "TYPE", "DENOMINATION"])
@pytest.mark.parametrize("timezone", [None, "UTC"])
async def test_day_buckets_across_spring_dst_change(
    world: World, group_by: str, timezone: str | None
) -> None:
    # None: the org's Europe/Berlin (daily summaries); UTC differs from the shops' zone,
    # so the same answer must come from the hourly summaries.
    tz = ZoneInfo(timezone or "Europe/Berlin")
    start, end = utc(2026, 3, 26, 23), utc(2026, 4, 3, 22)
    result = await flow(
        world, **{"from": start}, to=end, interval="DAY", groupBy=group_by, timezone=timezone
    )
    assert_matches(result, world, start, end, "DAY", group_by, tz)
    if timezone is None:
        starts = [parse(b) for b in result["buckets"]]
        assert starts[3] - starts[2] == timedelta(hours=23)  # Sunday 2026-03-29
        assert result["timezone"] == "Europe/Berlin"


async def test_day_buckets_across_autumn_dst_change(world: World) -> None:
    start, end = utc(2026, 10, 23, 22), utc(2026, 10, 27, 23)
    result = await flow(world, **{"from": start}, to=end, interval="DAY", groupBy="MACHINE")
    assert_matches(result, world, start, end, "DAY", "MACHINE", BERLIN)
    starts = [parse(b) for b in result["buckets"]]
    assert starts[2] - starts[1] == timedelta(hours=25)  # Sunday 2026-10-25
    eur = next(s for s in result["series"] if s["key"] == str(world.tenant.machines[1].id))
    assert eur["deposits"][1] == 1000  # both 02:30 deposits on the repeated hour, one day


@pytest.mark.parametrize(
    ("interval", "start", "end"),
    [
        ("HOUR", utc(2026, 3, 28, 20), utc(2026, 3, 29, 3)),
        ("WEEK", utc(2026, 3, 1), utc(2026, 4, 20)),
        ("MONTH", utc(2026, 2, 15), utc(2026, 11, 30)),
    ],
)
async def test_hour_week_month_buckets(
    world: World, interval: str, start: datetime, end: datetime
) -> None:
    for group_by in ("NONE", "DENOMINATION"):
        result = await flow(world, **{"from": start}, to=end, interval=interval, groupBy=group_by)
        assert_matches(result, world, start, end, interval, group_by, BERLIN)


async def test_currencies_are_never_summed_and_filter_works(world: World) -> None:
    start, end = utc(2026, 3, 26, 23), utc(2026, 4, 1, 22)
    result = await flow(world, **{"from": start}, to=end, interval="DAY", groupBy="NONE")
    assert sorted(s["currency"] for s in result["series"]) == ["EUR", "USD"]
    usd = next(s for s in result["series"] if s["currency"] == "USD")
    assert sum(usd["deposits"]) == 4 * 100 + 3 * 100
    only = await flow(
        world, **{"from": start}, to=end, interval="DAY", groupBy="NONE", currency="USD"
    )
    assert [s["currency"] for s in only["series"]] == ["USD"]
    assert only["series"][0]["deposits"] == usd["deposits"]


async def test_empty_range_has_zero_filled_buckets_and_no_series(world: World) -> None:
    start, end = utc(2025, 1, 1), utc(2025, 1, 5)
    result = await flow(world, **{"from": start}, to=end, interval="DAY", groupBy="SHOP")
    assert len(result["buckets"]) == 5  # 2024-12-31 23:00Z starts the first local day
    assert result["series"] == []
    # Days without movements in a month that has movements on other days: still no series.
    start, end = utc(2026, 3, 10), utc(2026, 3, 15)
    for interval in ("DAY", "WEEK"):  # the week of March 9-15
        result = await flow(world, **{"from": start}, to=end, interval=interval, groupBy="SHOP")
        assert result["series"] == [], interval
    # A range with data only on some days: the other days are zeros, not missing.
    start, end = utc(2026, 3, 31), utc(2026, 4, 10)
    result = await flow(world, **{"from": start}, to=end, interval="DAY", groupBy="NONE")
    eur = next(s for s in result["series"] if s["currency"] == "EUR")
    assert len(eur["adjustments"]) == len(result["buckets"]) == 11
    assert eur["adjustments"][0] == -2 * 100 + 500
    assert eur["adjustments"][1:] == [0] * 10


@pytest.mark.parametrize(
    ("start", "end", "interval", "timezone", "message"),
    [
        (utc(2026, 3, 2), utc(2026, 3, 1), "DAY", None, "from must be before to"),
        (utc(2020, 1, 1), utc(2026, 1, 1), "HOUR", None, "at most 1000 buckets"),
        (utc(2026, 1, 1), utc(2026, 1, 2), "DAY", "Mars/Base", "unknown time zone"),
    ],
)
async def test_bad_ranges_are_refused_with_a_clear_error(
    world: World,
    start: datetime,
    end: datetime,
    interval: str,
    timezone: str | None,
    message: str,
) -> None:
    variables = {"from": start.isoformat(), "to": end.isoformat(), "interval": interval}
    body = await gql(
        world_client(world),
        CASH_FLOW,
        {**variables, "groupBy": "NONE", "timezone": timezone},
        token=world.tenant.admin_token,
    )
    assert message in body["errors"][0]["message"]
