"""Analytics queries against expectations computed in Python from the raw records sent:
DST-day buckets, currencies never mixed, zero-filled and empty ranges, scope, and the
summaries' equality with a rebuild from raw transactions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from config import Settings
from models.identity import Role
from models.organization import utcnow
from tests.analytics_helpers import (
    BERLIN,
    KIND_NAMES,
    SIGN,
    TYPES,
    World,
    build_world,
    expected_counts,
    expected_flow,
    local_buckets,
    utc,
)
from tests.factories import Factory, gql, gql_data

CASH_FLOW = """
query Flow($from: DateTime!, $to: DateTime!, $interval: CashFlowInterval!,
           $groupBy: CashFlowGroupBy!, $currency: String, $timezone: String,
           $shopIds: [ID!], $machineIds: [ID!]) {
  cashFlow(from: $from, to: $to, interval: $interval, groupBy: $groupBy, currency: $currency,
           timezone: $timezone, shopIds: $shopIds, machineIds: $machineIds) {
    timezone buckets
    series { currency key deposits withdrawals collections replenishments adjustments net
             count pieces type kind denomination shop { id } machine { id } }
  }
}
"""
FIELDS = {
    "DEPOSIT": "deposits",
    "WITHDRAWAL": "withdrawals",
    "COLLECTION": "collections",
    "REPLENISHMENT": "replenishments",
    "ADJUSTMENT": "adjustments",
}


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, settings: Settings) -> World:
    factory = Factory(client=client, settings=settings)
    w = await build_world(factory)
    m0, m1, usd = w.tenant.machines
    add = w.add
    add(m0, "REPLENISHMENT", utc(2026, 3, 27, 10), ("N", 1000, 50), ("C", 100, 20))
    add(m0, "DEPOSIT", utc(2026, 3, 28, 22, 59, 59), ("N", 500, 3))  # 23:59:59 local, 28th
    add(m1, "DEPOSIT", utc(2026, 3, 28, 23), ("N", 2000, 1), ("C", 200, 5))  # 00:00 local, 29th
    add(m0, "WITHDRAWAL", utc(2026, 3, 29, 1, 30), ("N", 1000, 2))  # 03:30 CEST
    add(usd, "DEPOSIT", utc(2026, 3, 29, 21, 59), ("N", 100, 4), ("C", 100, 3))  # 23:59 CEST
    add(m1, "COLLECTION", utc(2026, 3, 29, 22), ("N", 2000, 1))  # 00:00 local, 30th
    add(m0, "ADJUSTMENT", utc(2026, 3, 31, 12), ("C", 100, -2), ("N", 500, 1))
    add(m0, "DEPOSIT", utc(2026, 10, 24, 22, 30), ("N", 5000, 1))  # 00:30 CEST, Oct 25
    add(m1, "DEPOSIT", utc(2026, 10, 25, 0, 30), ("N", 500, 1))  # 02:30 CEST
    add(m1, "DEPOSIT", utc(2026, 10, 25, 1, 30), ("N", 500, 1))  # 02:30 CET, again
    add(usd, "WITHDRAWAL", utc(2026, 10, 25, 22, 59), ("N", 100, 1))  # 23:59 CET, Oct 25
    add(m0, "DEPOSIT", utc(2026, 10, 25, 23), ("N", 1000, 1))  # 00:00 local, Oct 26
    recent = utcnow() - timedelta(minutes=1)
    add(m0, "DEPOSIT", recent, ("N", 1000, 2))
    add(usd, "DEPOSIT", recent, ("N", 500, 1))
    add(m1, "WITHDRAWAL", recent, ("N", 500, 1))
    await w.ingest(w.records)
    return w


async def flow(world: World, token: str | None = None, **variables: object) -> dict:
    data = await gql_data(
        world_client(world),
        CASH_FLOW,
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in variables.items()},
        token=token or world.tenant.admin_token,
    )
    return data["cashFlow"]


def world_client(world: World) -> httpx.AsyncClient:
    return world.factory.client


def assert_matches(
    result: dict,
    world: World,
    start: datetime,
    end: datetime,
    interval: str,
    group_by: str,
    tz: ZoneInfo,
    records: list | None = None,
) -> None:
    buckets = local_buckets(start, end, interval, tz)
    assert [parse(b) for b in result["buckets"]] == buckets
    bucket_end = local_buckets(buckets[-1], buckets[-1] + timedelta(days=32), interval, tz)[1]
    expected = expected_flow(records or world.records, buckets, bucket_end, group_by)
    got = {(s["currency"], s["key"]): s for s in result["series"]}
    assert set(got) == set(expected), (group_by, interval)
    for ident, exp in expected.items():
        s = got[ident]
        for t in TYPES:
            assert s[FIELDS[t]] == exp[t], (ident, t, group_by, interval)
        assert s["net"] == exp["net"], ident
        if group_by == "DENOMINATION":
            assert s["count"] is None
            assert s["pieces"] == exp["pieces"], ident
            assert f"{s['kind'][0]}{s['denomination']}" == ident[1]
        else:
            assert s["count"] == exp["count"], ident
            assert s["pieces"] is None
        if group_by == "SHOP":
            assert s["shop"]["id"] == ident[1]
        if group_by == "MACHINE":
            assert s["machine"]["id"] == ident[1]
        if group_by == "TYPE":
            assert s["type"] == ident[1]


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


OVERVIEW = """
query { overview {
  timezone
  cashHeld { currency value pieces notesValue coinsValue }
  today { currency deposits withdrawals collections replenishments adjustments net count }
  monthToDate { currency deposits net count }
  topShops { shop { id } held { currency value } machineCount lastTransactionAt }
  machines { total activeLast24Hours lastTransactionAt }
} }
"""


def held_by(records: list, key) -> dict:
    out: dict = defaultdict(lambda: defaultdict(int))
    for r in records:
        for kind, d, c in r.lines:
            out[key(r)][kind] += SIGN[r.type] * c * d
    return out


async def test_overview_matches_raw_records(world: World) -> None:
    data = await gql_data(world_client(world), OVERVIEW, token=world.tenant.admin_token)
    o = data["overview"]
    held = held_by(world.records, lambda r: r.currency)
    assert o["cashHeld"] == [
        {
            "currency": c,
            "value": held[c]["N"] + held[c]["C"],
            "pieces": sum(v for v in expected_counts(world.records)[c].values()),
            "notesValue": held[c]["N"],
            "coinsValue": held[c]["C"],
        }
        for c in ("EUR", "USD")
    ]
    today = datetime.now(BERLIN).date()
    todays = [r for r in world.records if r.at.astimezone(BERLIN).date() == today]
    for totals in o["today"]:
        mine = [r for r in todays if r.currency == totals["currency"]]
        assert totals["count"] == len(mine)
        assert totals["deposits"] == sum(r.amount for r in mine if r.type == "DEPOSIT")
        assert totals["net"] == sum(SIGN[r.type] * r.amount for r in mine)
    assert {t["currency"] for t in o["today"]} == {r.currency for r in todays}
    month = [
        r
        for r in world.records
        if r.at.astimezone(BERLIN).strftime("%Y%m") == datetime.now(BERLIN).strftime("%Y%m")
    ]
    assert sum(t["count"] for t in o["monthToDate"]) == len(month)
    by_shop = held_by(world.records, lambda r: (str(r.machine.shop_id), r.currency))
    expected_top = sorted(
        ((c, -(v["N"] + v["C"]), s) for (s, c), v in by_shop.items()),
    )
    got_top = [(t["held"]["currency"], -t["held"]["value"], t["shop"]["id"]) for t in o["topShops"]]
    assert got_top == expected_top
    assert o["machines"]["total"] == 3
    assert o["machines"]["activeLast24Hours"] == 3


async def test_overview_month_to_date_and_today_per_currency(factory: Factory) -> None:
    """Each currency's totals of today and of this month (Berlin dates), from the records."""
    world = await build_world(factory)
    m0, _, usd = world.tenant.machines
    now = utcnow()
    local_today = now.astimezone(BERLIN).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = local_today.replace(day=1)
    world.add(m0, "DEPOSIT", now - timedelta(minutes=2), ("N", 1000, 3))
    world.add(m0, "WITHDRAWAL", now - timedelta(minutes=1), ("N", 500, 1))
    world.add(usd, "DEPOSIT", now - timedelta(minutes=1), ("N", 100, 2))
    # The first hour of this month (today when today is the 1st), and the last minute of the
    # previous month, which must not count.
    early = max(month_start, min(month_start + timedelta(minutes=30), now - timedelta(minutes=3)))
    world.add(m0, "DEPOSIT", early, ("N", 1000, 1))
    world.add(usd, "DEPOSIT", month_start - timedelta(minutes=1), ("C", 25, 4))
    world.records.sort(key=lambda r: r.at)
    for machine in (m0, usd):
        for seq, r in enumerate((r for r in world.records if r.machine is machine), start=1):
            r.seq = seq
    await world.ingest(world.records)

    o = (await gql_data(factory.client, OVERVIEW, token=world.tenant.admin_token))["overview"]

    def totals(records: list) -> list[dict]:
        out = []
        for c in sorted({r.currency for r in records}):
            mine = [r for r in records if r.currency == c]
            out.append(
                {
                    "currency": c,
                    "deposits": sum(r.amount for r in mine if r.type == "DEPOSIT"),
                    "net": sum(SIGN[r.type] * r.amount for r in mine),
                    "count": len(mine),
                }
            )
        return out

    this_month = [r for r in world.records if r.at >= month_start]
    todays = [r for r in world.records if r.at >= local_today]
    assert o["monthToDate"] == totals(this_month)
    assert [{k: t[k] for k in ("currency", "deposits", "net", "count")} for t in o["today"]] == (
        totals(todays)
    )


BREAKDOWN = """
query B($at: DateTime, $shopIds: [ID!]) { denominationBreakdown(at: $at, shopIds: $shopIds) {
  asOf
  currencies { currency totalValue totalPieces denominations { kind denomination pieces value } }
} }
"""


def breakdown_of(counts: dict) -> list[dict]:
    out = []
    for currency in sorted(counts):
        slots = sorted(counts[currency], key=lambda s: (s[0] != "N", int(s[1:])))
        denominations = [
            {
                "kind": KIND_NAMES[s[0]],
                "denomination": int(s[1:]),
                "pieces": counts[currency][s],
                "value": int(s[1:]) * counts[currency][s],
            }
            for s in slots
        ]
        out.append(
            {
                "currency": currency,
                "totalValue": sum(d["value"] for d in denominations),
                "totalPieces": sum(d["pieces"] for d in denominations),
                "denominations": denominations,
            }
        )
    return out


async def test_denomination_breakdown_now_and_at_an_earlier_hour(world: World) -> None:
    now = await gql_data(world_client(world), BREAKDOWN, token=world.tenant.admin_token)
    assert now["denominationBreakdown"]["currencies"] == breakdown_of(
        expected_counts(world.records)
    )
    at = utc(2026, 3, 29, 22, 30)
    then = await gql_data(
        world_client(world), BREAKDOWN, {"at": at.isoformat()}, token=world.tenant.admin_token
    )
    assert parse(then["denominationBreakdown"]["asOf"]) == utc(2026, 3, 29, 22)
    expected = expected_counts(world.records, before=utc(2026, 3, 29, 22))
    # Slots that moved later but not before `at` still appear, with zero pieces.
    for c, slots in expected_counts(world.records).items():
        for s in slots:
            expected[c].setdefault(s, 0)
    assert then["denominationBreakdown"]["currencies"] == breakdown_of(expected)


async def test_shop_manager_sees_only_their_shop(world: World, factory: Factory) -> None:
    shop0, shop1 = world.tenant.shops
    _, token = await factory.user(world.tenant, Role.SHOP_MANAGER, [1])
    start, end = utc(2026, 3, 26, 23), utc(2026, 4, 3, 22)
    result = await flow(
        world, token=token, **{"from": start}, to=end, interval="DAY", groupBy="SHOP"
    )
    mine = [r for r in world.records if r.machine.shop_id == shop1.id]
    assert_matches(result, world, start, end, "DAY", "SHOP", BERLIN, records=mine)
    assert {s["key"] for s in result["series"]} == {str(shop1.id)}
    other = await flow(
        world,
        token=token,
        **{"from": start},
        to=end,
        interval="DAY",
        groupBy="NONE",
        shopIds=[str(shop0.id)],
    )
    assert other["series"] == []
    o = (await gql_data(world_client(world), OVERVIEW, token=token))["overview"]
    assert [t["shop"]["id"] for t in o["topShops"]] == [str(shop1.id)]
    assert [h["currency"] for h in o["cashHeld"]] == ["EUR"]
    b = await gql_data(world_client(world), BREAKDOWN, {"shopIds": [str(shop0.id)]}, token=token)
    assert b["denominationBreakdown"]["currencies"] == []
    b = await gql_data(world_client(world), BREAKDOWN, token=token)
    assert b["denominationBreakdown"]["currencies"] == breakdown_of(expected_counts(mine))
