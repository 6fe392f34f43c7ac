"""The analytics queries of the tests, the world they run on and the comparisons of their
answers with what `tests.analytics_helpers` computes from the raw records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from config import Settings
from models.organization import utcnow
from tests.analytics_helpers import (
    KIND_NAMES,
    TYPES,
    World,
    build_world,
    expected_flow,
    local_buckets,
    utc,
)
from tests.factories import Factory, gql_data

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


BREAKDOWN = """
query B($at: DateTime, $shopIds: [ID!]) { denominationBreakdown(at: $at, shopIds: $shopIds) {
  asOf
  currencies { currency totalValue totalPieces denominations { kind denomination pieces value } }
} }
"""


@pytest.fixture(scope="module", name="world")
async def seeded_world(client: httpx.AsyncClient, settings: Settings) -> World:
    """Fixture `world`, one per test module that imports it: the world of the analytics tests,
    with movements on both sides of both 2026 DST changes (in Berlin, the organization's
    zone), in two currencies, and a few from the last minute."""
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
