"""Fleet settings health needs: shop hours, address and location, health thresholds per
organization and shop, machine changes, moving and decommissioning machines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config import Settings
from models.health_store import find_twin
from models.organization import OpeningHours
from models.scope import Scope
from models.security_log import SecurityEvent
from resolvers.fleet.opening_hours import is_open
from resolvers.health.evaluator import evaluate_connectivity
from tests.factories import Factory, gql_data, heartbeat, tx

UPDATE_SHOP = """
mutation($input: UpdateShopInput!) { updateShop(input: $input) {
  shop { name openingHours { weekday opens closes } address { city country }
         coordinates { latitude longitude }
         healthSettings { heartbeatIntervalSeconds offlineGraceSeconds staleAfterSeconds }
         healthOverrides { heartbeatIntervalSeconds offlineGraceSeconds staleAfterSeconds } }
  userErrors { field code message }
} }
"""
MACHINE_OP = """
mutation($m: ID!, $s: ID!) {
  moveMachine(input: {machineId: $m, shopId: $s}) { machine { id } userErrors { field code } }
}
"""


async def update_shop(factory: Factory, tenant, **fields) -> dict:
    data = await gql_data(
        factory.client,
        UPDATE_SHOP,
        {"input": {"shopId": str(tenant.shops[0].id), **fields}},
        token=tenant.admin_token,
    )
    return data["updateShop"]


async def test_shop_hours_address_and_location_are_saved_and_shown(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await update_shop(
        factory,
        tenant,
        name="Main street",
        openingHours=[
            {"weekday": 6, "opens": "09:00", "closes": "14:00"},
            {"weekday": 1, "opens": "08:00", "closes": "24:00"},
        ],
        address={"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
        coordinates={"latitude": 52.52, "longitude": 13.405},
    )
    assert result["userErrors"] == []
    shop = result["shop"]
    assert shop["name"] == "Main street"
    assert shop["openingHours"] == [
        {"weekday": 1, "opens": "08:00", "closes": "24:00"},
        {"weekday": 6, "opens": "09:00", "closes": "14:00"},
    ]
    assert shop["address"] == {"city": "Berlin", "country": "DE"}
    assert shop["coordinates"] == {"latitude": 52.52, "longitude": 13.405}
    logged = await SecurityEvent.find({"org_id": tenant.org.id, "action": "SHOP_UPDATED"}).count()
    assert logged == 1
    cleared = await update_shop(factory, tenant, address=None)
    assert cleared["shop"]["address"] is None
    assert cleared["shop"]["coordinates"] is not None  # left out: unchanged


async def test_bad_shop_settings_name_the_field_and_change_nothing(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await update_shop(
        factory,
        tenant,
        openingHours=[
            {"weekday": 2, "opens": "08:00", "closes": "12:00"},
            {"weekday": 2, "opens": "11:00", "closes": "18:00"},
            {"weekday": 8, "opens": "08:00", "closes": "12:00"},
            {"weekday": 3, "opens": "8 am", "closes": "12:00"},
        ],
        coordinates={"latitude": 91, "longitude": 13},
        address={"line1": " ", "city": "Berlin", "country": "Germany"},
        health={"heartbeatIntervalSeconds": 0},
    )
    problems = {(e["field"], e["message"]) for e in result["userErrors"]}
    fields = {field for field, _ in problems}
    assert fields == {
        "input.openingHours",
        "input.openingHours[2].weekday",
        "input.openingHours[3]",
        "input.coordinates.latitude",
        "input.address.line1",
        "input.address.country",
        "input.health.heartbeatIntervalSeconds",
    }
    assert any("overlap" in message for _, message in problems)
    after = await update_shop(factory, tenant)
    assert after["shop"]["openingHours"] == []


async def test_a_shop_override_beats_the_organization_and_applies_at_once(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await factory.report(tenant, [heartbeat(1)])
    await gql_data(
        factory.client,
        "mutation { updateHealthSettings(input: {heartbeatIntervalSeconds: 30, "
        "offlineGraceSeconds: 300}) { organization { healthSettings { heartbeatIntervalSeconds "
        "offlineGraceSeconds staleAfterSeconds } } userErrors { code } } }",
        token=tenant.admin_token,
    )
    result = await update_shop(factory, tenant, health={"offlineGraceSeconds": 20})
    assert result["shop"]["healthSettings"] == {
        "heartbeatIntervalSeconds": 30,
        "offlineGraceSeconds": 20,
        "staleAfterSeconds": settings.stale_counts_after_seconds,
    }
    assert result["shop"]["healthOverrides"]["heartbeatIntervalSeconds"] is None
    twin = await find_twin(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert twin is not None
    assert (twin["late_after_seconds"], twin["offline_after_seconds"]) == (90, 20)
    assert twin["next_check_at"] == twin["last_seen_at"] + timedelta(seconds=20)


async def test_machine_name_and_limits_change_and_bad_limits_are_refused(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    query = (
        "mutation($input: UpdateMachineInput!) { updateMachine(input: $input) { machine { name "
        "inventory { denominations { denomination kind capacity nearFull } } } "
        "userErrors { field code message } } }"
    )
    limits = [
        {"kind": "NOTE", "denomination": 1000, "capacity": 300, "nearEmpty": 10, "nearFull": 250}
    ]
    data = await gql_data(
        factory.client,
        query,
        {"input": {"machineId": tenant.machine_id, "name": "Till 2", "limits": limits}},
        token=tenant.admin_token,
    )
    machine = data["updateMachine"]["machine"]
    assert machine["name"] == "Till 2"
    note = next(
        d
        for d in machine["inventory"]["denominations"]
        if (d["denomination"], d["kind"]) == (1000, "NOTE")
    )
    assert (note["capacity"], note["nearFull"]) == (300, 250)
    bad = [{**limits[0], "nearFull": 400}]
    refused = await gql_data(
        factory.client,
        query,
        {"input": {"machineId": tenant.machine_id, "limits": bad}},
        token=tenant.admin_token,
    )
    assert [e["field"] for e in refused["updateMachine"]["userErrors"]] == ["input.limits"]


async def test_a_moved_machine_keeps_its_history_and_changes_hands(factory: Factory) -> None:
    tenant = await factory.tenant(shops=2)
    await factory.ingest(tenant, [tx(1), tx(2)])
    to_shop = str(tenant.shops[1].id)
    moved = await gql_data(
        factory.client,
        MACHINE_OP,
        {"m": tenant.machine_id, "s": to_shop},
        token=tenant.admin_token,
    )
    assert moved["moveMachine"]["userErrors"] == []
    old_key, new_key = tenant.machine_keys[0], tenant.api_key_of_shop(1)
    refused = await factory.ingest(tenant, [tx(3)], api_key=old_key)
    assert [e["code"] for e in refused["userErrors"]] == ["MACHINE_NOT_COVERED"]
    accepted = await factory.ingest(tenant, [tx(3)], api_key=new_key)
    assert accepted["accepted"] == 1
    data = await gql_data(
        factory.client,
        "query($m: ID!) { machine(id: $m) { shop { id } inventory { totalPieces } } "
        "verifyMachineChain(machineId: $m) { ok checked } "
        "transactions(first: 10, filter: {machineIds: [$m]}) { edges { node { seq shopId } } } }",
        {"m": tenant.machine_id},
        token=tenant.admin_token,
    )
    assert data["machine"]["shop"]["id"] == to_shop
    assert data["machine"]["inventory"]["totalPieces"] == 6
    assert data["verifyMachineChain"] == {"ok": True, "checked": 3}
    # transactions stay recorded at the shop where they happened
    shops_by_seq = {e["node"]["seq"]: e["node"]["shopId"] for e in data["transactions"]["edges"]}
    assert shops_by_seq == {1: str(tenant.shops[0].id), 2: str(tenant.shops[0].id), 3: to_shop}
    same = await gql_data(
        factory.client,
        MACHINE_OP,
        {"m": tenant.machine_id, "s": to_shop},
        token=tenant.admin_token,
    )
    assert [e["field"] for e in same["moveMachine"]["userErrors"]] == ["input.shopId"]


async def test_a_decommissioned_machine_is_not_counted_offline(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=2)
    await factory.heard_from_every_machine(tenant)
    retired = tenant.machine_ids[1]
    data = await gql_data(
        factory.client,
        'mutation($m: ID!) { decommissionMachine(input: {machineId: $m, reason: "replaced"}) '
        "{ machine { decommissionedAt decommissionReason health { connectivity } } "
        "userErrors { code } } }",
        {"m": retired},
        token=tenant.admin_token,
    )
    machine = data["decommissionMachine"]["machine"]
    assert machine["decommissionReason"] == "replaced"
    assert machine["health"]["connectivity"] == "DECOMMISSIONED"
    await evaluate_connectivity(now=datetime.now(UTC) + timedelta(hours=1), settings=settings)
    fleet = await gql_data(
        factory.client,
        "{ fleetHealth { machines decommissioned byConnectivity { connectivity count } } }",
        token=tenant.admin_token,
    )
    counts = {c["connectivity"]: c["count"] for c in fleet["fleetHealth"]["byConnectivity"]}
    assert fleet["fleetHealth"]["machines"] == 1
    assert fleet["fleetHealth"]["decommissioned"] == 1
    assert counts["OFFLINE"] == 1  # the machine still in service, silent for an hour
    refused = await factory.report(tenant, [heartbeat(2)], machine_id=retired)
    assert [e["code"] for e in refused["userErrors"]] == ["MACHINE_DECOMMISSIONED"]
    late_records = await factory.ingest(tenant, [tx(1)], machine_id=retired)
    assert late_records["accepted"] == 1  # its past cash movements are never lost


def test_opening_hours_are_read_in_the_shops_time_zone() -> None:
    monday_9_to_17 = [OpeningHours(weekday=1, opens=9 * 60, closes=17 * 60)]
    # Monday 2026-11-30 08:30 UTC is 09:30 in Berlin (CET, UTC+1)
    at = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    assert is_open(monday_9_to_17, "Europe/Berlin", at)
    assert not is_open(monday_9_to_17, "America/New_York", at)
    assert not is_open(monday_9_to_17, "Europe/Berlin", at + timedelta(hours=8))
    assert is_open([], "Europe/Berlin", at)  # hours unknown: treated as open
