"""Telemetry ingest and the device twin: exactly-once messages, seq rules, typed sections,
raw codes kept, and what each caller may see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from config import Settings
from models.health import MachineEventRecord, MachineTwin, TelemetryRecord
from models.organization import utcnow
from resolvers.alerts.evaluator import evaluate_alerts
from resolvers.health.twin import REASSESS_AFTER, alerts_may_change
from tests.factories import Factory, gql, gql_data, heartbeat, message

HEALTH = """
query($id: ID!) { machine(id: $id) { health {
  connectivity connectivitySince
  status { status code seq stale observedAt }
  modules { modules { module moduleNumber status code } }
  units { units { number purpose status statusCode pieces { kind denomination count } } }
  deviceCounts { coversSeq denominations { denomination count } }
  activeErrors { code category message module recovering active }
  lastError { code active clearedAt }
  doors { door state operatorId }
  firmware { modules { module version } }
  agent { agentVersion outboxBacklog }
  freshness { lastSeenAt lastHeartbeatAt clockSkewSeconds backfilling outboxBacklog }
  needsAttention { code message }
} } }
"""


DECOMMISSION = """
mutation($m: ID!) { decommissionMachine(input: {machineId: $m, reason: "sold"}) {
  userErrors { code } } }
"""


def status(seq: int, code: int, *, modules: list[dict] | None = None, **kw) -> dict:
    return message("STATUS", seq, status={"code": code, "modules": modules or []}, **kw)


async def health_of(factory: Factory, tenant, machine_id: str | None = None) -> dict:
    data = await gql_data(
        factory.client, HEALTH, {"id": machine_id or tenant.machine_id}, token=tenant.admin_token
    )
    return data["machine"]["health"]


async def test_a_repeated_event_id_is_a_duplicate_not_an_error(factory: Factory) -> None:
    tenant = await factory.tenant()
    first = await factory.report(tenant, [heartbeat(1), status(2, 1)])
    again = await factory.report(tenant, [heartbeat(1), status(2, 1), heartbeat(3)])
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (2, 0, [])
    assert (again["accepted"], again["duplicates"]) == (1, 2)
    stored = await TelemetryRecord.find({"machine_id": tenant.machines[0].id}).count()
    assert stored == 3


async def test_an_older_seq_is_logged_but_never_moves_the_twin_back(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.report(tenant, [status(5, 4)])  # COUNTING
    late = await factory.report(tenant, [status(4, 1)])  # IDLE, but older
    assert (late["accepted"], late["stale"]) == (0, 1)
    health = await health_of(factory, tenant)
    assert health["status"]["status"] == "COUNTING"
    assert health["status"]["seq"] == 5
    log = await TelemetryRecord.find({"machine_id": tenant.machines[0].id}).sort("seq").to_list()
    assert [(r.seq, r.applied) for r in log] == [(4, False), (5, True)]


async def test_one_bad_message_never_drops_the_good_ones(factory: Factory) -> None:
    tenant = await factory.tenant()
    unknown_note = {
        "number": 1,
        "purpose": "RECYCLE",
        "statusCode": 2,
        "pieces": [{"denomination": 777, "count": 1}],
    }
    payload = await factory.report(
        tenant,
        [
            heartbeat(1),
            message("HEARTBEAT", 2, status={"code": 1}),
            message("UNITS", 3, units=[unknown_note]),
            status(4, 1),
            message("DOOR", 5, door={"door": "\ud800", "state": "OPENED"}),
            message("STATUS", 6, status={"code": 1}, door={"door": "FRONT", "state": "OPENED"}),
            message("SUSPECT_NOTES", 7, suspectNotes={"category2": -1, "category3": 0}),
        ],
    )
    assert payload["accepted"] == 2
    assert [(r["index"], r["code"]) for r in payload["rejected"]] == [
        (1, "MISSING_SECTION"),
        (2, "UNKNOWN_DENOMINATION"),
        (4, "INVALID_TEXT"),
        (5, "UNEXPECTED_SECTION"),
        (6, "OUT_OF_RANGE"),
    ]
    assert "suspectNotes.category2" in payload["rejected"][-1]["message"]
    health = await health_of(factory, tenant)
    assert health["status"]["status"] == "IDLE"
    assert health["agent"]["agentVersion"] == "test-1.0"


async def test_unknown_raw_codes_are_kept_as_unknown_with_their_value(factory: Factory) -> None:
    tenant = await factory.tenant()
    unit = {"number": 9, "purpose": "COLLECTION_BOX", "statusCode": 77}
    payload = await factory.report(
        tenant,
        [
            status(1, 99, modules=[{"module": 7, "code": 12345}]),
            message("UNITS", 2, units=[unit]),
            message("ERROR", 3, error={"code": "FW-NEW-42", "message": "new in firmware 9"}),
        ],
    )
    assert (payload["accepted"], payload["rejected"]) == (3, [])
    health = await health_of(factory, tenant)
    assert (health["status"]["status"], health["status"]["code"]) == ("UNKNOWN", 99)
    assert health["modules"]["modules"] == [
        {"module": "UNKNOWN", "moduleNumber": 7, "status": "UNKNOWN", "code": 12345}
    ]
    assert health["units"]["units"][0] | {"pieces": []} == {
        "number": 9,
        "purpose": "COLLECTION_BOX",
        "status": "UNKNOWN",
        "statusCode": 77,
        "pieces": [],
    }
    assert health["activeErrors"][0]["category"] == "UNKNOWN"
    assert health["activeErrors"][0]["code"] == "FW-NEW-42"


async def test_every_section_reaches_the_twin_as_reported(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.report(
        tenant,
        [
            heartbeat(1, backlog=0, lastJournaledSeq=41),
            status(2, 4, modules=[{"module": 1, "code": 2000}, {"module": 2, "code": 9300}]),
            message(
                "UNITS",
                3,
                units=[
                    {
                        "number": 1,
                        "purpose": "RECYCLE",
                        "statusCode": 1,
                        "pieces": [{"denomination": 1000, "count": 12}],
                        "capacity": 200,
                    },
                    {"number": 5, "purpose": "COLLECTION_BOX", "statusCode": 4},
                ],
            ),
            message(
                "DEVICE_COUNTS",
                4,
                deviceCounts={
                    "coversSeq": 41,
                    "denominations": [{"denomination": 1000, "count": 12}],
                },
            ),
            message("ERROR", 5, error={"code": "NOTE_JAM", "module": 1, "recovering": True}),
            message("DOOR", 6, door={"door": "FRONT", "state": "OPENED", "operatorId": "op-7"}),
            message("FIRMWARE", 7, firmware=[{"module": "note", "version": "3.2"}]),
        ],
    )
    health = await health_of(factory, tenant)
    assert health["status"]["status"] == "COUNTING"
    assert [m["status"] for m in health["modules"]["modules"]] == [
        "DEPOSITING",
        "COMMUNICATION_ERROR",
    ]
    assert [(u["number"], u["status"]) for u in health["units"]["units"]] == [
        (1, "NEAR_EMPTY"),
        (5, "FULL"),
    ]
    assert health["deviceCounts"] == {
        "coversSeq": 41,
        "denominations": [{"denomination": 1000, "count": 12}],
    }
    assert health["activeErrors"] == [
        {
            "code": "NOTE_JAM",
            "category": "NOTE_JAM",
            "message": None,
            "module": "NOTE_UNIT",
            "recovering": True,
            "active": True,
        }
    ]
    assert health["doors"] == [{"door": "FRONT", "state": "OPENED", "operatorId": "op-7"}]
    assert health["firmware"]["modules"] == [{"module": "note", "version": "3.2"}]
    reasons = {r["code"] for r in health["needsAttention"]}
    assert {"MODULE_ERROR", "DEVICE_ERROR", "COLLECTION_FULL"} <= reasons


async def test_a_cleared_error_stays_cleared_when_its_raise_arrives_late(factory: Factory) -> None:
    tenant = await factory.tenant()
    jam = {"code": "NOTE_JAM", "module": 1}
    await factory.report(tenant, [message("ERROR", 1, error=jam)])
    await factory.report(tenant, [message("ERROR_CLEARED", 3, error=jam)])
    replay = await factory.report(tenant, [message("ERROR", 2, error=jam, event_id="jam-again")])
    assert replay["stale"] == 1
    health = await health_of(factory, tenant)
    assert health["activeErrors"] == []
    assert health["lastError"]["code"] == "NOTE_JAM"
    assert health["lastError"]["active"] is False
    kinds = [
        e.kind
        for e in await MachineEventRecord.find({"machine_id": tenant.machines[0].id})
        .sort("number")
        .to_list()
    ]
    assert kinds == ["CONNECTIVITY_CHANGED", "ERROR_RAISED", "ERROR_CLEARED"]


async def test_concurrent_reports_of_one_machine_lose_no_update(factory: Factory) -> None:
    import asyncio

    tenant = await factory.tenant()
    doors = [f"door-{n}" for n in range(12)]
    results = await asyncio.gather(
        *(
            factory.report(tenant, [message("DOOR", n + 1, door={"door": d, "state": "CLOSED"})])
            for n, d in enumerate(doors)
        )
    )
    assert all(r["accepted"] == 1 for r in results)
    health = await health_of(factory, tenant)
    assert sorted(d["door"] for d in health["doors"]) == sorted(doors)
    numbers = [
        e.number
        for e in await MachineEventRecord.find({"machine_id": tenant.machines[0].id}).to_list()
    ]
    assert sorted(numbers) == list(range(1, len(doors) + 2))  # + the first CONNECTIVITY_CHANGED


async def test_a_key_cannot_report_for_another_shops_machine(factory: Factory) -> None:
    tenant = await factory.tenant(shops=2)
    other_shops_machine = tenant.machine_ids[1]
    payload = await factory.report(tenant, [heartbeat(1)], machine_id=other_shops_machine)
    assert [e["code"] for e in payload["userErrors"]] == ["MACHINE_NOT_COVERED"]
    assert await TelemetryRecord.find({"machine_id": tenant.machines[1].id}).count() == 0
    foreign = await factory.tenant()
    payload = await factory.report(tenant, [heartbeat(1)], machine_id=foreign.machine_id)
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]


async def test_a_call_with_too_many_messages_is_refused_whole(factory: Factory) -> None:
    tenant = await factory.tenant()
    payload = await factory.report(tenant, [heartbeat(n) for n in range(1, 502)])
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("input.messages", "TOO_MANY_MESSAGES")
    ]
    assert await TelemetryRecord.find({"machine_id": tenant.machines[0].id}).count() == 0


async def test_a_shop_manager_sees_only_the_health_of_their_machines(factory: Factory) -> None:
    from models.identity import Role

    tenant = await factory.tenant(shops=2)
    await factory.heard_from_every_machine(tenant)
    _, token = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    other = await gql(factory.client, HEALTH, {"id": tenant.machine_ids[1]}, token=token)
    assert other["data"]["machine"] is None
    own = await gql_data(factory.client, HEALTH, {"id": tenant.machine_ids[0]}, token=token)
    assert own["machine"]["health"]["connectivity"] == "LIVE"
    fleet = await gql_data(
        factory.client,
        "{ fleetHealth { machines byConnectivity { connectivity count } "
        "attention { machine { id } } } }",
        token=token,
    )
    assert fleet["fleetHealth"]["machines"] == 1
    assert {m["machine"]["id"] for m in fleet["fleetHealth"]["attention"]} <= {
        tenant.machine_ids[0]
    }


async def test_clock_skew_and_backlog_come_from_the_heartbeat(factory: Factory) -> None:
    tenant = await factory.tenant()
    now = datetime.now(UTC)
    await factory.report(tenant, [heartbeat(1, at=now - timedelta(seconds=300))])
    health = await health_of(factory, tenant)
    assert 299 <= health["freshness"]["clockSkewSeconds"] <= 330
    assert {r["code"] for r in health["needsAttention"]} >= {"CLOCK_SKEW"}
    await factory.report(
        tenant,
        [heartbeat(2, at=now, backlog=40, outboxOldestAgeSeconds=1200, event_id=uuid.uuid4().hex)],
    )
    health = await health_of(factory, tenant)
    fresh = health["freshness"]
    assert fresh["backfilling"] is True
    assert fresh["outboxBacklog"] == 40
    assert fresh["clockSkewSeconds"] is None
    assert "AGENT_BACKLOG" in {r["code"] for r in health["needsAttention"]}


async def test_only_heartbeats_that_may_change_an_alert_wake_the_alert_evaluator(
    factory: Factory,
) -> None:
    """10,000 machines heartbeating every minute must not cost 10,000 alert evaluations a
    minute: a heartbeat wakes the evaluator only for a backlog or a drifted clock."""
    tenant = await factory.tenant()
    twins = MachineTwin.get_pymongo_collection()
    machine = {"_id": tenant.machines[0].id}

    async def wakes(messages: list[dict]) -> bool:
        await twins.update_one(machine, {"$unset": {"alerts_due_at": ""}})  # as evaluated
        await factory.report(tenant, messages)
        return (await twins.find_one(machine)).get("alerts_due_at") is not None

    now = datetime.now(UTC)
    assert await wakes([heartbeat(1, at=now)]), "the first heartbeat"
    assert not await wakes([heartbeat(2, at=datetime.now(UTC))]), "a plain heartbeat"
    assert await wakes([status(3, 4)]), "a status change"
    assert not await wakes([heartbeat(4, at=datetime.now(UTC))]), "a plain heartbeat again"
    assert await wakes([heartbeat(5, at=datetime.now(UTC) - timedelta(seconds=30))]), "skew"
    assert await wakes([heartbeat(6, at=datetime.now(UTC), backlog=3)]), "a backlog"
    assert await wakes([heartbeat(7, at=datetime.now(UTC))]), "the backlog gone"


def test_a_twin_not_looked_at_for_a_while_is_looked_at_on_its_next_heartbeat() -> None:
    now = datetime.now(UTC)
    beat = {"value": {}, "received_at": now, "observed_at": now}
    twin = {"sections": {"heartbeat": beat}, "alerts_skew_seconds": 0.0}
    recent = {**twin, "alerts_marked_at": now - REASSESS_AFTER + timedelta(seconds=1)}
    assert not alerts_may_change(recent, {**recent, "last_seen_at": now}, now)
    old = {**twin, "alerts_marked_at": now - REASSESS_AFTER}
    assert alerts_may_change(old, {**old, "last_seen_at": now}, now)


async def test_an_event_id_sent_again_under_a_higher_seq_is_still_a_duplicate(
    factory: Factory,
) -> None:
    """The log is searched for repeats only below the highest seq logged; an eventId repeated
    above it (against the contract) is still caught, by the log's unique index."""
    tenant = await factory.tenant()
    await factory.report(tenant, [heartbeat(1, event_id="beat-1")])
    again = await factory.report(tenant, [heartbeat(2, event_id="beat-1"), heartbeat(3)])
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (1, 1, [])
    stored = await TelemetryRecord.find({"machine_id": tenant.machines[0].id}).count()
    assert stored == 2


async def test_a_twin_without_a_deadline_stores_none_for_the_due_queries_to_skip(
    factory: Factory, settings: Settings
) -> None:
    """Absent, not null: a null in the sparse index is read by every due query (the embedded
    server scans them all: 200 ms against 1 ms per query at 10,000 twins)."""
    tenant = await factory.tenant()
    await factory.report(tenant, [heartbeat(1, at=datetime.now(UTC))])  # no clock skew
    await evaluate_alerts(now=utcnow(), settings=settings)
    twin = await MachineTwin.get_pymongo_collection().find_one({"_id": tenant.machines[0].id})
    assert twin is not None
    assert "alerts_due_at" not in twin, "looked at, nothing due later"
    assert twin["next_check_at"] is not None, "LIVE: it goes LATE at a known instant"
    decommissioned = await gql_data(
        factory.client, DECOMMISSION, {"m": tenant.machine_id}, token=tenant.admin_token
    )
    assert decommissioned["decommissionMachine"]["userErrors"] == []
    twin = await MachineTwin.get_pymongo_collection().find_one({"_id": tenant.machines[0].id})
    assert twin is not None
    assert "next_check_at" not in twin, "decommissioned: it never goes LATE"
