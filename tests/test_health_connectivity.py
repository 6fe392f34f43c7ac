"""Connectivity changes with no request arriving: LATE, then OFFLINE, back to LIVE on the next
message; each transition recorded once however many evaluators run (an injected clock here,
real worker processes in the last test)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from config import Settings
from models.health import MachineEventRecord
from resolvers.health.evaluator import evaluate_connectivity
from tests.alert_support import last_seen
from tests.factories import REPORT, Factory, Tenant, gql_data, heartbeat, tx
from tests.servers import api_server, eventually

CONNECTIVITY = "CONNECTIVITY_CHANGED"


async def transitions(tenant: Tenant, machine_index: int = 0) -> list[tuple[str, str]]:
    events = (
        await MachineEventRecord.find(
            {"machine_id": tenant.machines[machine_index].id, "kind": CONNECTIVITY}
        )
        .sort("number")
        .to_list()
    )
    return [(e.detail["previous"], e.detail["connectivity"]) for e in events]


async def heard_once(factory: Factory) -> tuple[Tenant, datetime]:
    """A new tenant whose machine sent one heartbeat, and when the cloud heard it."""
    tenant = await factory.tenant()
    await factory.report(tenant, [heartbeat(1)])
    return tenant, await last_seen(tenant)


async def test_silence_makes_a_machine_late_then_offline_and_a_heartbeat_brings_it_back(
    factory: Factory, settings: Settings
) -> None:
    tenant, seen = await heard_once(factory)

    await evaluate_connectivity(now=seen + timedelta(seconds=179), settings=settings)
    assert await transitions(tenant) == [("NEVER_SEEN", "LIVE")]
    await evaluate_connectivity(now=seen + timedelta(seconds=181), settings=settings)
    assert await transitions(tenant) == [("NEVER_SEEN", "LIVE"), ("LIVE", "LATE")]
    await evaluate_connectivity(now=seen + timedelta(seconds=601), settings=settings)
    assert (await transitions(tenant))[-1] == ("LATE", "OFFLINE")

    await factory.report(tenant, [heartbeat(2)])
    assert (await transitions(tenant))[-1] == ("OFFLINE", "LIVE")
    offline = await MachineEventRecord.find(
        {"machine_id": tenant.machines[0].id, "detail.connectivity": "OFFLINE"}
    ).to_list()
    # the transition happened when the grace ran out, whichever pass noticed it
    assert offline[0].at == seen + timedelta(seconds=600)


async def test_evaluators_racing_record_each_transition_once(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=5)
    await factory.heard_from_every_machine(tenant)
    seen = max([await last_seen(tenant, i) for i in range(5)])
    for later in (181, 601):
        passes = await asyncio.gather(
            *(
                evaluate_connectivity(now=seen + timedelta(seconds=later), settings=settings)
                for _ in range(4)
            )
        )
        assert sum(p.transitions for p in passes) >= 5
    for index in range(5):
        assert await transitions(tenant, index) == [
            ("NEVER_SEEN", "LIVE"),
            ("LIVE", "LATE"),
            ("LATE", "OFFLINE"),
        ]


async def test_a_silence_longer_than_the_grace_goes_straight_to_offline(
    factory: Factory, settings: Settings
) -> None:
    tenant, seen = await heard_once(factory)
    await evaluate_connectivity(now=seen + timedelta(hours=2), settings=settings)
    assert await transitions(tenant) == [("NEVER_SEEN", "LIVE"), ("LIVE", "OFFLINE")]


async def test_a_transaction_batch_also_counts_as_contact(
    factory: Factory, settings: Settings
) -> None:
    tenant, seen = await heard_once(factory)
    await evaluate_connectivity(now=seen + timedelta(seconds=601), settings=settings)
    await factory.ingest(tenant, [tx(1)])
    assert (await transitions(tenant))[-1] == ("OFFLINE", "LIVE")


async def test_two_worker_processes_record_each_transition_once(
    factory: Factory, settings: Settings
) -> None:
    """Real time, short thresholds: heartbeat every 1 s (LATE after 3 s), offline after 4 s."""
    tenant = await factory.tenant()
    await gql_data(
        factory.client,
        "mutation { updateHealthSettings(input: {heartbeatIntervalSeconds: 1, "
        "offlineGraceSeconds: 4}) { userErrors { code } } }",
        token=tenant.admin_token,
    )
    env = {"health_evaluator_interval_seconds": "0.2"}
    with api_server(settings, **env) as first, api_server(settings, **env) as second:

        def send(server, seq: int) -> None:
            body = {
                "query": REPORT,
                "variables": {
                    "input": {"machineId": tenant.machine_id, "messages": [heartbeat(seq)]}
                },
            }
            answer = httpx.post(
                server.graphql_url, json=body, headers={"X-API-Key": tenant.api_key}, timeout=10
            )
            assert answer.json()["data"]["reportMachineTelemetry"]["accepted"] == 1

        send(first, 1)

        async def offline() -> bool:
            return ("LATE", "OFFLINE") in await transitions(tenant)

        await eventually(offline, timeout=30, what="the machine to go OFFLINE")
        send(second, 2)
        history = await transitions(tenant)
    assert history[:4] == [
        ("NEVER_SEEN", "LIVE"),
        ("LIVE", "LATE"),
        ("LATE", "OFFLINE"),
        ("OFFLINE", "LIVE"),
    ]
