"""A worker killed mid-transaction holds nothing for long: its recorded sessions are ended by
the live processes (killSessions) and its idempotency claims are taken over, and every
database wait is bounded by the timeout instead of the server's 60 s transaction lifetime."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from config import Settings
from models.batch_store import claim_batch
from models.db import Database
from models.inflight import COLLECTION, InflightSessions, as_binary
from models.ledger import IngestBatch, MachineInventory
from models.organization import utcnow
from models.scope import Scope
from tests.factories import Factory, tx
from tests.test_ingest import fingerprint_of

DEAD = "crashed-host:4242:0badc0de"


async def hold_machine_state(client: AsyncMongoClient, database: Database, machine_id) -> object:
    """Open a transaction that writes the machine's state and never ends, as a worker killed
    between its writes and its commit leaves it; returns its session."""
    session = client.start_session()
    await session.start_transaction()
    state = client[database.db.name][MachineInventory.Settings.name]
    await state.update_one({"_id": machine_id}, {"$inc": {"version": 1}}, session=session)
    return session


async def claim_for_five_minutes(tenant, key: str, records: list[dict]) -> None:
    """Claim `key` as another request would (through the server's own claim)."""
    now = utcnow()
    claimed = await claim_batch(
        scope=Scope.organization(tenant.org.id),
        machine_id=tenant.machines[0].id,
        key=key,
        fingerprint=fingerprint_of(tenant, records),
        owner=f"another-request-{key}",
        now=now,
        lease_until=now + timedelta(minutes=5),
        expires_at=now + timedelta(days=7),
    )
    assert claimed is None


async def test_a_batch_for_a_machine_held_by_a_dead_workers_transaction_is_applied(
    factory: Factory, database: Database, settings: Settings
) -> None:
    # given a dead worker's open transaction on the machine's state, recorded with the
    # heartbeat it last wrote
    tenant = await factory.tenant()
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri)
    sessions = database.db[COLLECTION]
    try:
        held = await hold_machine_state(client, database, tenant.machines[0].id)
        await sessions.insert_one(
            {
                "_id": DEAD,
                "heartbeat_at": utcnow() - timedelta(minutes=1),
                "lsids": [held.session_id["id"]],  # type: ignore[attr-defined]
            }
        )

        # when a batch for that machine arrives
        result = await factory.ingest(tenant, [tx(1), tx(2)])

        # then the live process ended the dead one's sessions and the batch went through
        assert (result["userErrors"], result["accepted"]) == ([], 2)
        assert await sessions.find_one({"_id": DEAD}) is None
        with pytest.raises(PyMongoError):
            await held.commit_transaction()  # type: ignore[attr-defined]
    finally:
        await sessions.delete_one({"_id": DEAD})
        await client.close()


async def test_a_dead_workers_claim_is_taken_over_before_its_lease_ends(
    factory: Factory, database: Database
) -> None:
    tenant = await factory.tenant()
    records = [tx(1)]
    await claim_for_five_minutes(tenant, "crashed", records)
    batches = IngestBatch.get_pymongo_collection()
    await batches.update_one({"idempotency_key": "crashed"}, {"$set": {"process": DEAD}})

    retried = await factory.ingest(tenant, records, idempotency_key="crashed")

    assert (retried["userErrors"], retried["accepted"]) == ([], 1)


async def test_a_claim_of_a_live_worker_still_answers_in_progress(factory: Factory) -> None:
    tenant = await factory.tenant()
    records = [tx(1)]
    await claim_for_five_minutes(tenant, "working", records)
    blocked = await factory.ingest(tenant, records, idempotency_key="working")
    assert [e["code"] for e in blocked["userErrors"]] == ["IN_PROGRESS"]


async def test_a_transaction_waiting_on_a_held_document_fails_within_the_timeout(
    factory: Factory, database: Database, settings: Settings
) -> None:
    # given a live (recorded, heartbeating) holder of the machine's state
    tenant = await factory.tenant()
    machine_id = tenant.machines[0].id
    holder: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri)
    bounded: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri, timeoutMS=500)
    try:
        held = await hold_machine_state(holder, database, machine_id)
        waiting = Database(client=bounded, db=bounded[database.db.name], transaction_timeout=0.5)

        async def write(session) -> None:
            state = waiting.db[MachineInventory.Settings.name]
            await state.update_one({"_id": machine_id}, {"$inc": {"version": 1}}, session=session)

        # when another transaction writes it, then it ends with a timeout error, not after
        # the server's transaction lifetime
        with pytest.raises(PyMongoError) as raised:
            await waiting.in_transaction(write)
        assert raised.value.timeout
        await held.abort_transaction()  # type: ignore[attr-defined]
    finally:
        await holder.close()
        await bounded.close()


async def test_a_transaction_that_runs_out_of_time_holds_nothing_afterwards(
    factory: Factory, database: Database, settings: Settings
) -> None:
    """The driver gives up a timed-out transaction without telling the server, which kept it
    open for 60 s: plain writes to its documents blocked and requests failed behind them."""
    tenant = await factory.tenant()
    machine_id = tenant.machines[0].id
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri)
    plain: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri, timeoutMS=3000)
    try:
        bounded = Database(client=client, db=client[database.db.name], transaction_timeout=0.5)

        async def slow(session) -> None:
            state = bounded.db[MachineInventory.Settings.name]
            await state.update_one({"_id": machine_id}, {"$inc": {"version": 1}}, session=session)
            await asyncio.sleep(1.0)  # past the transaction's time: the driver gives up

        with pytest.raises(PyMongoError) as raised:
            await bounded.in_transaction(slow)
        assert raised.value.timeout
        state = plain[database.db.name][MachineInventory.Settings.name]
        written = await state.update_one({"_id": machine_id}, {"$inc": {"version": 1}})
        assert written.matched_count == 1
    finally:
        await client.close()
        await plain.close()


async def own_record(factory: Factory, database: Database) -> dict:
    """This process's record in `transaction_sessions` after it ran an ingest."""
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1)])
    assert database.inflight is not None
    record = await database.db[COLLECTION].find_one({"_id": database.inflight.process})
    assert record is not None
    return record


async def test_a_process_running_transactions_is_recorded_with_its_sessions(
    factory: Factory, database: Database
) -> None:
    record = await own_record(factory, database)
    assert record["heartbeat_at"] is not None
    assert record["lsids"]


async def test_an_idle_process_removes_its_record_and_records_itself_again_when_used(
    database: Database,
) -> None:
    """Idle workers cost the database nothing; the next transaction is covered again."""
    now = [0.0]
    inflight = InflightSessions(database.db, idle_after=10, clock=lambda: now[0])
    mine = {"_id": inflight.process}
    sessions = database.db[COLLECTION]
    async with database.client.start_session() as session, inflight.running(session):
        assert await sessions.find_one(mine) is not None
    assert inflight.active, "still active just after a transaction"

    now[0] += 11  # nothing ran for longer than idle_after
    assert await inflight.tick() is False
    assert await sessions.find_one(mine) is None

    async with database.client.start_session() as session, inflight.running(session):
        record = await sessions.find_one(mine)
        lsid = session.session_id["id"]
    assert record is not None
    assert as_binary(lsid) in [as_binary(i) for i in record["lsids"]]
    await inflight.forget()
