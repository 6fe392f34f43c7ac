"""The reference client's telemetry: device events and heartbeats go through the durable
outbox, survive crashes and SIGKILL like transactions, and a rejected message becomes a dead
letter instead of blocking the queue."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent import AgentClient, RetryPolicy
from agent.outbox import Outbox
from agent.telemetry import TelemetryQueue
from models.health import TelemetryRecord
from tests.agent_support import (
    URL,
    AgentProcess,
    CrashAfterSend,
    SimulatedCrash,
    cloud_transport,  # noqa: F401 (fixture `transport`)
)
from tests.factories import Factory, Tenant, gql_data

HEALTH = """
query($id: ID!) { machine(id: $id) { health {
  status { status code seq }
  activeErrors { code category module }
  agent { agentVersion lastJournaledSeq outboxBacklog outboxOldestAgeSeconds }
  freshness { outboxBacklog outboxOldestAgeSeconds }
} } }
"""
DECOMMISSION = """
mutation($m: ID!) { decommissionMachine(input: {machineId: $m, reason: "sold"}) {
  userErrors { code } } }
"""


class Unavailable(httpx.AsyncBaseTransport):
    """Answers 503 `failures` times, then passes requests on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: int) -> None:
        self.inner, self.failures = inner, failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            self.failures -= 1
            return httpx.Response(503, request=request)
        return await self.inner.handle_async_request(request)


class SlowForLargeCalls(httpx.AsyncBaseTransport):
    """Times out every call of more than `limit` telemetry messages (a server that cannot
    answer a large backlog in time); records each call's size."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self.inner, self.limit, self.sizes = inner, limit, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        size = len(json.loads(request.content)["variables"]["input"]["messages"])
        self.sizes.append(size)
        if size > self.limit:
            raise httpx.ReadTimeout("no answer in time", request=request)
        return await self.inner.handle_async_request(request)


def agent_for(tenant: Tenant, path: Path, transport: httpx.AsyncBaseTransport, **kw) -> AgentClient:
    policy = RetryPolicy(base=0.001, max_delay=0.01)
    return AgentClient(URL, tenant.api_key, tenant.machine_id, path, transport=transport,
                       policy=policy, **kw)  # fmt: skip


async def health_of(factory: Factory, tenant: Tenant) -> dict:
    data = await gql_data(
        factory.client, HEALTH, {"id": tenant.machine_id}, token=tenant.admin_token
    )
    return data["machine"]["health"]


async def logged(tenant: Tenant) -> list[TelemetryRecord]:
    return await TelemetryRecord.find({"machine_id": tenant.machines[0].id}).sort("seq").to_list()


async def test_device_events_reported_before_a_crash_reach_the_twin_after_restart(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", transport)
    agent.report_device_event("STATUS", {"code": 4, "modules": [{"module": 1, "code": 2000}]})
    agent.report_device_event("ERROR", {"code": "NOTE_JAM", "module": 1, "recovering": True})
    agent.outbox.close()  # killed before anything was sent

    restarted = agent_for(tenant, tmp_path / "outbox.sqlite", transport)
    report = await restarted.flush()
    await restarted.aclose()

    assert (report.messages, report.dead) == (2, 0)
    health = await health_of(factory, tenant)
    assert health["status"]["status"] == "COUNTING"
    assert [(e["code"], e["category"]) for e in health["activeErrors"]] == [
        ("NOTE_JAM", "NOTE_JAM")
    ]


async def test_a_call_applied_before_the_crash_is_resent_and_counted_as_delivered_once(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    dying = agent_for(tenant, path, CrashAfterSend(transport))
    sent = [dying.report_device_event("STATUS", {"code": code}) for code in (4, 1, 6)]
    with pytest.raises(SimulatedCrash):
        await dying.flush()
    dying.outbox.close()

    restarted = agent_for(tenant, path, transport)
    report = await restarted.flush()
    held = restarted.telemetry.messages()
    await restarted.aclose()

    assert report.messages == 3, "duplicates count as delivered"
    assert [state for state, _ in held] == ["acked"] * 3
    records = await logged(tenant)
    assert [r.event_id for r in records] == [m["eventId"] for m in sent]
    assert (await health_of(factory, tenant))["status"]["code"] == 6


async def test_telemetry_that_times_out_is_resent_in_smaller_calls_until_it_gets_through(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    slow = SlowForLargeCalls(transport, limit=100)
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", slow, telemetry_batch_size=400)
    sent = [agent.report_device_event("STATUS", {"code": 4}) for _ in range(400)]
    report = await agent.flush(max_attempts=5)
    await agent.aclose()

    # halved after each timeout, doubled after each acknowledged call
    assert slow.sizes == [400, 200, 100, 200, 100, 200, 100, 100]
    assert (report.messages, report.dead) == (400, 0)
    records = await logged(tenant)
    assert [r.event_id for r in records] == [m["eventId"] for m in sent]


async def test_a_rejected_message_becomes_a_dead_letter_and_the_queue_moves_on(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", transport)
    agent.report_device_event("STATUS", {"code": 4})
    future = datetime.now(UTC) + timedelta(days=2)  # a device clock gone wrong
    bad = agent.report_device_event("STATUS", {"code": 13}, observed_at=future)
    agent.report_device_event("STATUS", {"code": 1})
    report = await agent.flush()
    again = await agent.flush()
    dead = agent.dead_letters()
    status = agent.telemetry.status()
    await agent.aclose()

    assert (report.messages, report.dead) == (2, 1)
    assert again.messages + again.dead == 0, "a dead letter is never resent"
    assert [(d.event_id, d.code) for d in dead] == [(bad["eventId"], "FUTURE_TIMESTAMP")]
    assert "observedAt" in dead[0].reason
    assert (status.pending, status.acked, status.dead) == (0, 2, 1)
    assert (await health_of(factory, tenant))["status"]["status"] == "IDLE"


async def test_a_decommissioned_machine_dead_letters_telemetry_but_transactions_still_flow(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    data = await gql_data(
        factory.client, DECOMMISSION, {"m": tenant.machine_id}, token=tenant.admin_token
    )
    assert data["decommissionMachine"]["userErrors"] == []
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", transport)
    agent.report_device_event("STATUS", {"code": 1})
    agent.journal(type="DEPOSIT", occurred_at=datetime.now(UTC), currency="EUR",
                  lines=[{"denomination": 1000, "count": 2}])  # fmt: skip
    report = await agent.flush()
    dead = agent.dead_letters()
    await agent.aclose()

    assert (report.accepted, report.dead) == (1, 1)
    assert [d.code for d in dead] == ["MACHINE_DECOMMISSIONED"]


async def test_heartbeats_report_version_journal_backlog_and_device_time_and_retry(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    clock = [datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)]
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", Unavailable(transport, failures=2),
                      clock=lambda: clock[0], agent_version="shop-pos 7.2")  # fmt: skip
    agent.journal_many([{"type": "DEPOSIT", "occurred_at": clock[0], "currency": "EUR",
                         "lines": [{"denomination": 500, "count": 1}]}] * 3)  # fmt: skip
    agent.device_heartbeat_at = clock[0] - timedelta(seconds=2)
    beat = agent.heartbeat()
    report = await agent.flush()
    await agent.aclose()

    section = beat["heartbeat"]
    assert section["agentVersion"] == "shop-pos 7.2"
    assert section["lastJournaledSeq"] == 3
    assert section["outboxBacklog"] == 3, "the three transactions were still unsent"
    assert section["outboxOldestAgeSeconds"] >= 0
    assert section["deviceHeartbeatAt"].startswith(
        (clock[0] - timedelta(seconds=2)).isoformat()[:19]
    )
    assert report.retries == 2, "503s are retried with the agent's retry policy"
    health = await health_of(factory, tenant)
    assert health["agent"]["agentVersion"] == "shop-pos 7.2"
    assert (health["agent"]["lastJournaledSeq"], health["freshness"]["outboxBacklog"]) == (3, 3)


async def test_run_keeps_queueing_heartbeats_while_the_cloud_is_unreachable(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    offline = Unavailable(transport, failures=10**9)
    agent = agent_for(tenant, tmp_path / "outbox.sqlite", offline, heartbeat_interval=0.01)
    stop = asyncio.Event()
    runner = asyncio.create_task(agent.run(stop, idle_seconds=0.01))
    deadline = time.monotonic() + 30
    while agent.telemetry.status().pending < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    offline.failures = 0  # the link is back
    stop.set()
    await asyncio.wait_for(runner, 30)
    status = agent.telemetry.status()
    await agent.aclose()

    assert status.pending == 0
    records = await logged(tenant)
    assert len(records) >= 5
    assert all(r.kind == "HEARTBEAT" for r in records)
    assert max(r.body["outbox_backlog"] for r in records) >= 4, "later beats saw the backlog"


async def test_sigkilled_agent_process_delivers_every_telemetry_message_once(
    factory: Factory, api_url: str, tmp_path: Path
) -> None:
    """A real `python -m agent flush`, SIGKILLed at random moments while it sends."""
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, tenant.machine_id)
    queue = TelemetryQueue(outbox)
    base = datetime.now(UTC) - timedelta(hours=1)
    events = [("STATUS", {"code": 1 + n % 5}, base + timedelta(seconds=n)) for n in range(5000)]
    for start in range(0, len(events), 500):
        queue.report_many(events[start : start + 500])
    expected = [m["eventId"] for _, m in queue.messages()]
    outbox.close()
    agent = AgentProcess(api_url, tenant, path)

    async def delivered() -> int:
        return len(await logged(tenant))

    kills = await agent.kill_while_sending(delivered, seed=11, max_pause=0.05)
    assert kills >= 1
    assert await delivered() < 5000, "the kills interrupted real work"

    agent.run_to_completion()
    records = await logged(tenant)
    assert [r.event_id for r in records] == expected
    health = await health_of(factory, tenant)
    assert health["status"]["code"] == events[-1][1]["code"]
