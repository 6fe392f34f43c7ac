"""Rules that depend on the shop's hours and on the forecast: doors outside opening hours,
OFFLINE at night, EMPTY_SOON from the forecast sweep (run once per organization)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from config import Settings
from models.alerts import AlertForecast
from models.organization import utcnow
from resolvers.alerts.forecasts import sweep_organization
from tests.alert_support import alerts_pass, evaluate, incidents, notified, seen_clock
from tests.factories import Factory, Tenant, gql_data, message

UPDATE_SHOP = """
mutation($input: UpdateShopInput!) { updateShop(input: $input) { userErrors { field code } } }
"""
SCHEDULE = """
mutation($input: ScheduleCollectionInput!) {
  scheduleCollection(input: $input) { userErrors { field code message } }
}
"""


async def closed_all_day(factory: Factory, tenant: Tenant) -> None:
    """Opening hours that exclude today (in the shop's zone) and the next days of the test."""
    today = utcnow().astimezone(ZoneInfo(tenant.shops[0].timezone)).isoweekday()
    other = (today + 2) % 7 + 1  # three days on: neither today nor tomorrow
    hours = [{"weekday": other, "opens": "09:00", "closes": "10:00"}]
    shop = {"shopId": str(tenant.shops[0].id), "openingHours": hours}
    answer = await gql_data(factory.client, UPDATE_SHOP, {"input": shop}, token=tenant.admin_token)
    assert answer["updateShop"]["userErrors"] == []


def door(seq: int, state: str = "OPENED") -> dict:
    return message("DOOR", seq, at=utcnow(), door={"door": "FRONT", "state": state})


async def test_a_door_opened_outside_opening_hours_alerts_unless_a_collection_is_planned(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=2)
    await closed_all_day(factory, tenant)
    clock = await seen_clock(factory, tenant, machines=2)
    planned, surprise = tenant.machine_ids
    window = {"from": utcnow().isoformat(), "to": (utcnow() + timedelta(hours=2)).isoformat()}
    await gql_data(
        factory.client,
        SCHEDULE,
        {"input": {"machineId": planned, **window}},
        token=tenant.admin_token,
    )
    for machine_id in (planned, surprise):
        await factory.report(tenant, [door(2)], machine_id=machine_id)
    await alerts_pass(settings, clock.at(5))
    assert await notified(tenant) == [("DOOR_OUTSIDE_HOURS", surprise, "FIRING")]
    # still open ten minutes later: too long, on the machine nobody planned for
    await alerts_pass(settings, clock.at(5 + 600))
    assert ("DOOR_OPEN_TOO_LONG", surprise, "FIRING") in await notified(tenant)
    assert [n for n in await notified(tenant) if n[1] == planned] == []


async def test_offline_outside_opening_hours_is_only_info(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await closed_all_day(factory, tenant)
    clock = await seen_clock(factory, tenant)
    await evaluate(settings, clock.at(601))
    (incident,) = await incidents(tenant, rule="OFFLINE")
    assert incident["severity"] == "INFO"


async def test_a_forecast_of_empty_within_a_day_alerts_empty_soon(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    forecast = AlertForecast(
        id=tenant.machines[0].id,
        org_id=tenant.org.id,
        slots={"N1000": [6.5, None], "N500": [30.0, None]},
        computed_at=utcnow(),
    )
    await forecast.save()
    await factory.report(tenant, [door(2, "CLOSED")])  # any news makes the machine due
    await alerts_pass(settings, clock.at(2))
    assert await notified(tenant) == [("EMPTY_SOON", tenant.machine_id, "FIRING")]
    (incident,) = await incidents(tenant)
    assert incident["subject"] == "N1000"
    assert incident["detail"] == {"slot": "N1000", "hours": 6.5, "direction": "EMPTY"}


async def test_the_forecast_sweep_of_an_organization_runs_once_among_racing_workers(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    now = utcnow()
    swept = await asyncio.gather(*(sweep_organization(tenant.org.id, now=now) for _ in range(3)))
    assert sorted(swept) == [False, False, True]
    assert await sweep_organization(tenant.org.id, now=now + timedelta(minutes=1)) is False
    assert await sweep_organization(tenant.org.id, now=now + timedelta(minutes=16)) is True


async def test_a_sweep_rewrites_only_the_forecasts_whose_verdicts_changed(
    factory: Factory,
) -> None:
    tenant = await factory.tenant(machines_per_shop=2)
    first, second = (m.id for m in tenant.machines)
    now = utcnow()
    assert await sweep_organization(tenant.org.id, now=now)
    forecasts = AlertForecast.get_pymongo_collection()
    await forecasts.update_one({"_id": second}, {"$set": {"slots": {"N1000": [6.5, None]}}})

    later = now + timedelta(minutes=16)
    assert await sweep_organization(tenant.org.id, now=later)

    mine = forecasts.find({"org_id": tenant.org.id})
    computed = {d["_id"]: d["computed_at"] async for d in mine}
    assert computed == {first: now, second: later}
