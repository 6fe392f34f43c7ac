"""Which machines' OFFLINE the alert evaluator looks at together: a twin names its shop while
it is late or offline (`late_or_offline_shop_id`), and a pass reads a whole shop only where
such a twin, or the shop's own OFFLINE incident, is (docs/alerts.md)."""

from __future__ import annotations

from datetime import timedelta

from config import Settings
from models.db import migrate_database
from models.health import MachineTwin
from models.health_store import find_twin
from models.scope import Scope
from resolvers.alerts.evaluator import evaluate_alerts
from tests.alert_support import beat, evaluate, last_heard, notified, seen_clock
from tests.factories import Factory, Tenant, gql_data

MOVE = """
mutation($m: ID!, $s: ID!) {
  moveMachine(input: {machineId: $m, shopId: $s}) { machine { id } userErrors { field code } }
}
"""


async def _twin(tenant: Tenant, index: int) -> dict:
    twin = await find_twin(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[index].id
    )
    assert twin is not None
    return twin


async def test_a_twin_names_its_shop_only_while_late_or_offline_and_follows_a_move(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(shops=2)
    clock = await seen_clock(factory, tenant)
    assert "late_or_offline_shop_id" not in await _twin(tenant, 0)

    await evaluate(settings, clock.at(181))
    late = await _twin(tenant, 0)
    assert (late["connectivity"], late["late_or_offline_shop_id"]) == ("LATE", tenant.shops[0].id)
    await evaluate(settings, clock.at(601))
    assert (await _twin(tenant, 0))["connectivity"] == "OFFLINE"

    moved = await gql_data(
        factory.client,
        MOVE,
        {"m": tenant.machine_id, "s": str(tenant.shops[1].id)},
        token=tenant.admin_token,
    )
    assert moved["moveMachine"]["userErrors"] == []
    assert (await _twin(tenant, 0))["late_or_offline_shop_id"] == tenant.shops[1].id

    await factory.report(tenant, [beat(2)], api_key=tenant.api_key_of_shop(1))
    back = await _twin(tenant, 0)
    assert back["connectivity"] == "LIVE"
    assert "late_or_offline_shop_id" not in back


async def test_a_late_machine_back_lets_the_offline_it_held_back_fire_in_the_same_pass(
    factory: Factory, settings: Settings
) -> None:
    """Only the machine that came back is due; the other's OFFLINE, held back while this one
    was late, fires in that pass, not at its own next look."""
    tenant = await factory.tenant(machines_per_shop=3)
    clock = await seen_clock(factory, tenant, machines=3)
    await last_heard(tenant, 0, at=clock.start - timedelta(seconds=700))
    await last_heard(tenant, 1, at=clock.start - timedelta(seconds=200))
    await evaluate(settings, clock.at(5))
    assert await notified(tenant) == []  # held back: another machine of the shop is late
    offline_due = (await _twin(tenant, 0))["alerts_due_at"]

    await factory.report(tenant, [beat(2)], machine_id=tenant.machine_ids[1])
    back_due = (await _twin(tenant, 1))["alerts_due_at"]
    assert back_due < offline_due, "the test ran too slowly to tell the two passes apart"
    evaluated = await evaluate_alerts(now=back_due, settings=settings)

    assert evaluated.machines == 1
    assert await notified(tenant) == [("OFFLINE", tenant.machine_id, "FIRING")]


async def test_migrate_names_the_shop_of_twins_stored_late_or_offline_before(
    factory: Factory, settings: Settings
) -> None:
    assert settings.mongodb_uri
    tenant = await factory.tenant(machines_per_shop=2)
    clock = await seen_clock(factory, tenant, machines=2)
    await last_heard(tenant, 0, at=clock.start - timedelta(seconds=700))
    await evaluate(settings, clock.at(5))
    twins = MachineTwin.get_pymongo_collection()
    offline = {"_id": tenant.machines[0].id}
    await twins.update_one(offline, {"$unset": {"late_or_offline_shop_id": ""}})

    changes = await migrate_database(settings.mongodb_uri, settings.mongodb_db, retention_days=92)

    assert "marked the shop of 1 late or offline twins" in changes
    assert (await _twin(tenant, 0))["late_or_offline_shop_id"] == tenant.shops[0].id
    assert "late_or_offline_shop_id" not in await _twin(tenant, 1)
    again = await migrate_database(settings.mongodb_uri, settings.mongodb_db, retention_days=92)
    assert not any("late or offline" in c for c in again)
