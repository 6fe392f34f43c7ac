"""The reference client's outbox: crashes at every step resume without loss or duplicates.

The cloud side is the real app over an ASGI transport; a "crash" closes the outbox without
any cleanup (what the OS does when the process dies) and a new client opens the same file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import AgentClient
from agent.outbox import Outbox, OutboxError
from tests.agent_support import (
    URL,
    AgentProcess,
    CrashAfterSend,
    SimulatedCrash,
    cloud_transport,  # noqa: F401 (fixture `transport`)
)
from tests.factories import Factory, Tenant, gql_data

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)

HISTORY = """
query History($machine: ID!, $after: String) {
  transactions(filter: {machineIds: [$machine]}, first: 100, after: $after) {
    edges { node { seq amount } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


CHAIN = "query Chain($id: ID!) { machine(id: $id) { inventory { chainPosition } } }"


def deposit(n: int, *, denomination: int = 1000) -> dict[str, Any]:
    return {
        "type": "DEPOSIT",
        "occurred_at": T0 + timedelta(seconds=n),
        "currency": "EUR",
        "lines": [{"denomination": denomination, "count": 1 + n % 3}],
    }


async def cloud_seqs(factory: Factory, tenant: Tenant) -> list[int]:
    seqs: list[int] = []
    after = None
    while True:
        page = (
            await gql_data(
                factory.client,
                HISTORY,
                {"machine": tenant.machine_id, "after": after},
                token=tenant.admin_token,
            )
        )["transactions"]
        seqs += [e["node"]["seq"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return sorted(seqs)
        after = page["pageInfo"]["endCursor"]


def crash(agent: AgentClient) -> None:
    """Abandon the client like a killed process: no flush, no ack, file handles closed."""
    agent.outbox.close()


def new_agent(
    tenant: Tenant, path: Path, transport: httpx.AsyncBaseTransport, **kw: Any
) -> AgentClient:
    return AgentClient(URL, tenant.api_key, tenant.machine_id, path, transport=transport, **kw)


async def test_crash_between_journal_and_send_loses_nothing(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    agent = new_agent(tenant, path, transport)
    assert agent.journal_many([deposit(n) for n in range(5)]) == [1, 2, 3, 4, 5]
    crash(agent)

    restarted = new_agent(tenant, path, transport)
    assert restarted.journal(**deposit(6)) == 6, "seqs continue after a restart"
    report = await restarted.flush()
    await restarted.aclose()

    assert report.accepted == 6
    assert await cloud_seqs(factory, tenant) == [1, 2, 3, 4, 5, 6]


async def test_batch_key_is_persisted_before_the_first_send(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    agent = new_agent(tenant, path, transport)
    agent.journal_many([deposit(n) for n in range(3)])
    batch = agent.outbox.open_batch(100)
    assert batch is not None
    crash(agent)  # died after forming the batch, before sending it

    recorder = CrashAfterSend(transport, deliver=10)
    restarted = new_agent(tenant, path, recorder)
    await restarted.flush()
    await restarted.aclose()
    assert recorder.keys == [batch.key]


async def test_crash_between_send_and_ack_resumes_without_duplicates(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    dying = CrashAfterSend(transport, deliver=1)
    agent = new_agent(tenant, path, dying, batch_size=100)
    agent.journal_many([deposit(n) for n in range(250)])
    with pytest.raises(SimulatedCrash):
        await agent.flush()  # batch 1 acked; batch 2 applied by the cloud, answer lost
    crash(agent)
    assert agent.outbox.path == path

    recorder = CrashAfterSend(transport, deliver=10)
    restarted = new_agent(tenant, path, recorder, batch_size=100)
    status = restarted.status()
    assert (status.acked, status.in_batches, status.pending) == (100, 100, 150)
    report = await restarted.flush()
    await restarted.aclose()

    assert recorder.keys[0] == dying.keys[1], "the unacknowledged batch is resent as it was"
    assert report.replayed == 1, "the cloud answered the resend from its idempotency store"
    assert await cloud_seqs(factory, tenant) == list(range(1, 251))


async def test_rejected_records_are_quarantined_with_their_code_and_good_ones_stored(
    factory: Factory, transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    tenant = await factory.tenant()
    agent = new_agent(tenant, tmp_path / "outbox.sqlite", transport)
    agent.journal_many([deposit(1), deposit(2, denomination=123), deposit(3)])
    report = await agent.flush()
    again = await agent.flush()
    quarantined = agent.quarantined()
    status = agent.status()
    await agent.aclose()

    assert (report.accepted, report.rejected) == (2, 1)
    assert again.batches == 0, "a quarantined record is not sent again"
    assert [(q.seq, q.code) for q in quarantined] == [(2, "UNKNOWN_DENOMINATION")]
    assert (status.acked, status.quarantined, status.pending) == (2, 1, 0)
    assert await cloud_seqs(factory, tenant) == [1, 3]


async def test_outbox_refuses_a_second_process_and_another_machine(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    first = Outbox(path, "machine-a")
    with pytest.raises(OutboxError, match="in use"):
        Outbox(path, "machine-a")
    first.close()
    with pytest.raises(OutboxError, match="belongs to machine machine-a"):
        Outbox(path, "machine-b")
    reopened = Outbox(path, "machine-a")
    reopened.close()


async def chain_position(factory: Factory, tenant: Tenant) -> int:
    data = await gql_data(
        factory.client, CHAIN, {"id": tenant.machine_id}, token=tenant.admin_token
    )
    return data["machine"]["inventory"]["chainPosition"]


async def test_sigkilled_agent_process_resumes_without_loss_or_duplicates(
    factory: Factory, api_url: str, tmp_path: Path
) -> None:
    """A real process, killed with SIGKILL at random moments while it sends, over real HTTP."""
    tenant = await factory.tenant()
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, tenant.machine_id)
    outbox.journal_many([deposit(n) for n in range(600)])
    outbox.close()
    agent = AgentProcess(api_url, tenant, path, "--batch-size", "20")
    kills = await agent.kill_while_sending(
        lambda: chain_position(factory, tenant), seed=5, max_pause=0.1
    )
    assert kills >= 1
    assert await chain_position(factory, tenant) < 600, "the kills interrupted real work"

    agent.run_to_completion()
    assert await cloud_seqs(factory, tenant) == list(range(1, 601))
