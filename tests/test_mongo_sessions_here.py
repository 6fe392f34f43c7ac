"""A worker that crashed on this host is ended at once by its successor, without waiting for
its heartbeat to go stale: its transactions stop holding documents and its claims are taken
over. A live worker of this host, or any worker of another host, is never taken for dead."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest

import models.inflight
from config import Settings
from models.db import Database
from models.inflight import COLLECTION, InflightSessions, started_at, this_host
from models.ledger import IngestBatch, MachineInventory
from tests.factories import Factory, tx
from tests.test_mongo_sessions import claim_for_five_minutes, own_record

ROOT = Path(__file__).resolve().parent.parent

# A worker between its writes and its commit: recorded (as every process running
# transactions is), one write to the machine's state done, the transaction left open.
WORKER = """
import asyncio, sys
from bson import ObjectId
from pymongo import AsyncMongoClient
from models.inflight import InflightSessions

async def main(uri, db_name, collection, machine_id):
    client = AsyncMongoClient(uri, tz_aware=True, uuidRepresentation="standard")
    db = client[db_name]
    inflight = InflightSessions(db)
    session = client.start_session()
    async with inflight.running(session):
        await session.start_transaction()
        await db[collection].update_one(
            {"_id": ObjectId(machine_id)}, {"$inc": {"version": 1}}, session=session
        )
        print(inflight.process, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(*sys.argv[1:]))
"""


@dataclass
class Worker:
    process: str  # its record's _id in transaction_sessions
    child: asyncio.subprocess.Process


@pytest.fixture
async def worker(factory: Factory, database: Database, settings: Settings) -> AsyncIterator:
    """Start a worker process holding the machine state of a new tenant's first machine."""
    started: list[Worker] = []

    async def start(tenant) -> Worker:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, settings.mongodb_uri, database.db.name,
            MachineInventory.Settings.name, str(tenant.machines[0].id),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line, "the worker exited before holding the machine"
        started.append(Worker(line.decode().strip(), child))
        return started[-1]

    yield start
    for w in started:
        if w.child.returncode is None:
            w.child.kill()
            await w.child.wait()
        await database.db[COLLECTION].delete_one({"_id": w.process})


async def crash(w: Worker) -> None:
    w.child.send_signal(signal.SIGKILL)
    await asyncio.wait_for(w.child.wait(), timeout=30)


async def claim_in(w: Worker, tenant, key: str, records: list[dict]) -> None:
    """Claim `key` as a request that `w` runs would."""
    await claim_for_five_minutes(tenant, key, records)
    batches = IngestBatch.get_pymongo_collection()
    await batches.update_one({"idempotency_key": key}, {"$set": {"process": w.process}})


@pytest.fixture
def heartbeats_never_go_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only being gone from this host can make a process dead in these tests."""
    monkeypatch.setattr(models.inflight, "STALE_SECONDS", 24 * 3600)


@pytest.mark.usefixtures("heartbeats_never_go_stale")
async def test_a_worker_that_crashed_on_this_host_is_ended_before_its_heartbeat_goes_stale(
    factory: Factory, database: Database, worker
) -> None:
    tenant = await factory.tenant()
    crashed = await worker(tenant)
    await crash(crashed)
    assert database.inflight is not None

    reaped = await database.inflight.reap()

    assert crashed.process in reaped
    assert await database.db[COLLECTION].find_one({"_id": crashed.process}) is None
    state = database.db[MachineInventory.Settings.name]
    with pymongo.timeout(10):  # held by the open transaction, this write would wait
        written = await state.update_one({"_id": tenant.machines[0].id}, {"$inc": {"version": 1}})
    assert written.matched_count == 1
    result = await factory.ingest(tenant, [tx(1), tx(2)])
    assert (result["userErrors"], result["accepted"]) == ([], 2)


@pytest.mark.usefixtures("heartbeats_never_go_stale")
async def test_a_claim_of_a_worker_that_crashed_on_this_host_is_taken_over_at_once(
    factory: Factory, worker
) -> None:
    tenant = await factory.tenant()
    records = [tx(1)]
    crashed = await worker(tenant)
    await claim_in(crashed, tenant, "crashed-here", records)
    await crash(crashed)

    retried = await factory.ingest(tenant, records, idempotency_key="crashed-here")

    assert (retried["userErrors"], retried["accepted"]) == ([], 1)


@pytest.mark.usefixtures("heartbeats_never_go_stale")
async def test_a_live_worker_on_this_host_keeps_its_sessions_and_its_claims(
    factory: Factory, database: Database, worker
) -> None:
    tenant = await factory.tenant()
    records = [tx(1)]
    alive = await worker(tenant)
    await claim_in(alive, tenant, "working-here", records)
    assert database.inflight is not None

    assert alive.process not in await database.inflight.reap()
    blocked = await factory.ingest(tenant, records, idempotency_key="working-here")

    assert [e["code"] for e in blocked["userErrors"]] == ["IN_PROGRESS"]
    assert await database.db[COLLECTION].find_one({"_id": alive.process}) is not None


def test_a_record_is_dead_here_only_when_its_host_is_this_one_and_its_process_is_gone(
    database: Database,
) -> None:
    inflight = InflightSessions(database.db)
    host, pid = this_host(), os.getppid()  # the parent runs for as long as this test
    assert host is not None
    assert started_at(pid) is not None

    def gone(**record) -> bool:
        return inflight.gone_here({"_id": "another:1:x", **record})

    assert not gone(host=host, pid=pid, started=started_at(pid)), "running"
    assert gone(host=host, pid=pid, started=started_at(pid) + 1), "its pid reused since"
    assert gone(host=host, pid=2**22 + 1, started=1), "no such process"  # above pid_max
    assert not gone(host="elsewhere/boot/pid:[1]", pid=2**22 + 1, started=1), "another host"
    assert not gone(pid=2**22 + 1, started=1), "a record without its host"
    assert not inflight.gone_here({"_id": inflight.process, "host": host, "pid": -1})


async def test_a_process_records_its_host_pid_and_start_time(
    factory: Factory, database: Database
) -> None:
    record = await own_record(factory, database)
    assert (record["host"], record["pid"]) == (this_host(), os.getpid())
    assert record["started"] == started_at(os.getpid())
