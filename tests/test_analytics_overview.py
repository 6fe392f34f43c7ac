"""The overview and denominationBreakdown queries against expectations computed in Python
from the raw records sent, and what a shop manager sees of all three analytics queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from models.identity import Role
from models.organization import utcnow
from tests.analytics_helpers import BERLIN, SIGN, World, build_world, expected_counts, utc
from tests.analytics_queries import (
    BREAKDOWN,
    OVERVIEW,
    assert_matches,
    breakdown_of,
    flow,
    parse,
    seeded_world,  # noqa: F401 (fixture `world`)
    world_client,
)
from tests.factories import Factory, gql_data


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
