"""`cashcc simulate --faults` against a real API server (uvicorn with its health evaluator,
alert evaluator and webhook worker running): each injected device fault gives exactly its
incidents and signed deliveries, clean machines none, every twin shows what its agent
reported; and the checks catch a twin or an alert that is not as expected."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

from cli.main import build_parser, cmd_simulate
from config import Settings
from models.db import Database
from simulator.alerts_check import _machine_expectations
from simulator.api import CloudApi
from simulator.health_api import alert_rules
from simulator.run import SimulationConfig, SimulationResult, format_summary, run_simulation
from simulator.twin_check import compare
from tests.factories import PASSWORD, Factory
from tests.servers import uvicorn_server

SERVER_ENV = {
    "HEALTH_EVALUATOR_INTERVAL_SECONDS": "0.5",
    "ALERT_EVALUATOR_INTERVAL_SECONDS": "0.5",
    "WEBHOOK_DELIVERY_INTERVAL_SECONDS": "0.5",
    "WEBHOOK_ALLOW_PRIVATE": "true",
}


@pytest.fixture(scope="module")
def api_url(settings: Settings, database: Database) -> Iterator[str]:
    with uvicorn_server(settings, extra_env=SERVER_ENV) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="module")
async def faults_run(
    api_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    client: httpx.AsyncClient,
    settings: Settings,
) -> tuple[SimulationResult, str]:
    tenant = await Factory(client=client, settings=settings).tenant(shops=0)
    config = SimulationConfig(
        url=api_url,
        email=tenant.admin.email,
        password=PASSWORD,
        shops=2,
        machines=2,
        transactions=30,
        batch_size=10,
        rate=15.0,
        seed=3,
        kill_every=1.0,
        client_timeout=5.0,  # 2 s timed out calls that a loaded CI machine needed
        converge_timeout=120.0,
        state_dir=tmp_path_factory.mktemp("sim-faults"),
        device_faults=("offline", "jam", "full"),
    )
    return await run_simulation(config, out=io.StringIO()), tenant.admin.email


async def test_each_device_fault_gives_exactly_its_incidents_and_clean_machines_none(
    faults_run: tuple[SimulationResult, str],
) -> None:
    result, _ = faults_run
    summary = format_summary(result)
    assert result.ok, summary
    assert sorted(result.device_faults.values()) == ["full", "jam", "offline"]
    counts = {
        label.rsplit("[", 1)[-1].rstrip("]"): c for label, c in result.alerts.incidents.items()
    }
    assert counts["offline"]["OFFLINE"] == 1
    assert counts["jam"]["NOTE_JAM"] == 1
    assert counts["full"]["COLLECTION_FULL"] == 1
    assert result.alerts.deliveries >= 4, "FIRING + RESOLVED offline, FIRING jam and full"
    assert "each fault gave exactly its incidents and deliveries" in summary
    assert all(t.messages > 0 and t.ok for t in result.twins), summary


async def test_a_faults_run_puts_the_rules_back_and_removes_its_webhook(
    faults_run: tuple[SimulationResult, str], api_url: str
) -> None:
    _, email = faults_run
    api = CloudApi(api_url, email, PASSWORD)
    try:
        rules = await alert_rules(api)
        webhooks = (await api.call("query { webhooks { id } }"))["webhooks"]
    finally:
        await api.aclose()
    note_jam = rules["NOTE_JAM"]
    assert (note_jam["settings"]["holdSeconds"], note_jam["settings"]["keepFiringSeconds"]) == (
        60,
        600,
    )
    assert note_jam["customized"] is False
    assert webhooks == []


def test_the_twin_check_names_a_section_the_cloud_shows_differently() -> None:
    status = {"eventId": "a-1", "seq": 1, "observedAt": "2026-12-01T09:00:00Z", "kind": "STATUS",
              "status": {"code": 4, "modules": []}}  # fmt: skip
    door = {"eventId": "a-2", "seq": 2, "observedAt": "2026-12-01T09:00:01Z", "kind": "DOOR",
            "door": {"door": "COLLECTION_BOX", "state": "OPENED"}}  # fmt: skip
    health = {"status": {"seq": 1, "code": 4}, "units": None, "agent": None,
              "suspectNotes": None, "activeErrors": [],
              "doors": [{"door": "COLLECTION_BOX", "state": "CLOSED"}]}  # fmt: skip
    check = compare("m", [("acked", status), ("acked", door)], health)
    assert not check.ok
    assert check.problems == [
        "twin doors: agent reported {'COLLECTION_BOX': 'OPENED'}, cloud {'COLLECTION_BOX': "
        "'CLOSED'}"
    ]
    assert compare("m", [("acked", status), ("pending", door)], health).undelivered == 1


def _incident(rule: str, *states: str) -> dict:
    return {"rule": rule, "subject": "", "state": states[-1] if states else "PENDING",
            "timeline": [{"state": s, "notified": True} for s in states]}  # fmt: skip


def test_the_alerts_check_refuses_a_second_incident_a_missing_resolve_and_a_noisy_clean_machine():
    problems: list[str] = []
    _machine_expectations("offline", False, [_incident("OFFLINE", "FIRING")], problems)
    assert problems == ["offline: OFFLINE notified ['FIRING'], expected ['FIRING', 'RESOLVED']"]
    problems = []
    twice = [_incident("NOTE_JAM", "FIRING"), _incident("NOTE_JAM", "FIRING")]
    _machine_expectations("jam", False, twice, problems)
    assert problems == ["jam: 2 NOTE_JAM incidents, expected 1"]
    problems = []
    held = {**_incident("DEVICE_ERROR"), "timeline": [{"state": "PENDING", "notified": False}]}
    _machine_expectations(None, False, [held], problems)
    assert problems == [], "an incident cleared within its hold was never notified"
    _machine_expectations(None, False, [_incident("DEVICE_ERROR", "FIRING")], problems)
    assert problems == ["unexpected DEVICE_ERROR  (FIRING, sent ['FIRING'])"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "fire"], "error: --faults: expected 'all' or some of offline, jam, full"),
        (["--faults", "all", "--shops", "1", "--machines", "3"],
         "error: --faults: 3 faults need at least 4 machines (one stays clean)"),
    ],
)  # fmt: skip
def test_simulate_refuses_unknown_faults_and_a_fleet_without_a_clean_machine(
    argv: list[str], message: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser(settings).parse_args(["simulate", *argv])
    assert cmd_simulate(args, settings) == 2
    assert capsys.readouterr().err.strip() == message
