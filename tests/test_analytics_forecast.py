"""The replenishment forecast follows the hour-of-week flow learned from daily demand
summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from models.organization import utcnow
from resolvers.analytics.forecast import demand_dates, hour_of_week, wanted_hours
from tests.analytics_helpers import build_world
from tests.factories import Factory, gql, gql_data

FORECAST = """
query F($horizon: Int!) { replenishmentForecast(horizonHours: $horizon) {
  horizonHours lookbackWeeks
  machines {
    machine { id } shop { id } currency nextDeadline
    denominations {
      kind denomination count capacity nearEmpty nearFull status expectedNetPerHour
      hoursToNearEmpty hoursToEmpty hoursToNearFull hoursToFull action quantity deadline
    }
  }
} }
"""


def slot(machine: dict, kind: str, denomination: int) -> dict:
    return next(
        d
        for d in machine["denominations"]
        if d["kind"] == kind and d["denomination"] == denomination
    )


async def test_forecast_projects_hour_of_week_flow_to_thresholds(factory: Factory) -> None:
    world = await build_world(factory)
    m0 = world.tenant.machines[0]
    now = utcnow()
    # Eight days ago: fill the 10 euro notes; then every hour of the last week one 10 euro
    # note is paid out and one 50 euro note comes in. CI-10 limits: capacity 200, near
    # empty 20, near full 180.
    world.add(m0, "REPLENISHMENT", now - timedelta(days=8), ("N", 1000, 200))
    for k in range(1, 169):
        at = now - timedelta(hours=k)
        world.add(m0, "WITHDRAWAL", at, ("N", 1000, 1))
        world.add(m0, "DEPOSIT", at, ("N", 5000, 1))
    # Interventions are not demand: a collection in the window must not bend the rate.
    world.add(m0, "DEPOSIT", now - timedelta(days=8, minutes=1), ("N", 5000, 1))
    world.add(m0, "COLLECTION", now - timedelta(days=8), ("N", 5000, 1))
    await world.ingest(world.records)

    data = await gql_data(factory.client, FORECAST, {"horizon": 48}, token=world.tenant.admin_token)
    forecast = data["replenishmentForecast"]
    assert forecast["horizonHours"] == 48
    machine = next(m for m in forecast["machines"] if m["machine"]["id"] == str(m0.id))
    assert machine["shop"]["id"] == str(m0.shop_id)

    tens = slot(machine, "NOTE", 1000)
    assert tens["count"] == 200 - 168
    assert tens["expectedNetPerHour"] == pytest.approx(-1.0)
    assert tens["hoursToNearEmpty"] == pytest.approx(12.0)  # 32 -> 20
    assert tens["hoursToEmpty"] == pytest.approx(32.0)
    assert tens["hoursToNearFull"] is None
    assert tens["action"] == "REPLENISH"
    assert tens["quantity"] == 100 - 20  # back to the middle of [20, 180]

    fifties = slot(machine, "NOTE", 5000)
    assert fifties["count"] == 168
    assert fifties["expectedNetPerHour"] == pytest.approx(1.0)
    assert fifties["hoursToNearFull"] == pytest.approx(12.0)  # 168 -> 180
    assert fifties["hoursToFull"] == pytest.approx(32.0)
    assert fifties["action"] == "COLLECT"
    assert fifties["quantity"] == 180 - 100
    assert fifties["status"] == "OK"

    idle = slot(machine, "NOTE", 2000)
    assert idle["hoursToEmpty"] == 0  # an empty slot is already empty
    assert idle["action"] == "NONE"  # but nothing predicts demand for it
    assert idle["expectedNetPerHour"] == 0

    # Deadlines are hours from now; the machine's next deadline is the earliest.
    assert machine["nextDeadline"] == min(tens["deadline"], fifties["deadline"])

    # Other machines of the org had no movements: nothing to do.
    others = [m for m in forecast["machines"] if m["machine"]["id"] != str(m0.id)]
    assert len(others) == 2
    assert all(d["action"] == "NONE" for m in others for d in m["denominations"])


async def test_forecast_refuses_out_of_range_horizon(factory: Factory) -> None:
    tenant = await factory.tenant()
    body = await gql(factory.client, FORECAST, {"horizon": 1000}, token=tenant.admin_token)
    assert "horizonHours must be between 1 and 168" in body["errors"][0]["message"]


@pytest.mark.parametrize("horizon", [1, 24, 100, 167, 168])
def test_demand_reads_cover_every_same_hour_of_week_once(horizon: int) -> None:
    end = datetime(2026, 3, 30, 10, tzinfo=UTC)  # a week after the spring DST change
    start = end - timedelta(weeks=4)
    tz = ZoneInfo("Europe/Berlin")
    hows = {hour_of_week(end + timedelta(hours=k), tz) for k in range(horizon)}
    runs = demand_dates(start, end, tz, {h // 24 for h in hows})
    assert all(a[1] < b[0] for a, b in pairwise(runs))  # disjoint: nothing counted twice
    wanted = wanted_hours(runs, start, end, tz, hows)
    expected = set()
    at = start
    while at < end:
        if hour_of_week(at, tz) in hows:
            local = at.astimezone(tz)
            day = datetime(local.year, local.month, local.day, tzinfo=UTC)
            expected.add((day, str(local.hour)))
            assert any(lo <= day < hi for lo, hi in runs), at
        at += timedelta(hours=1)
    assert {(day, hour) for day, hours in wanted.items() for hour in hours} == expected
