"""`cashcc migrate` is the one schema change step: it builds an empty database, is idempotent
on a populated one, applies a retention change, and workers refuse to start until it ran."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from config import Settings
from models.db import connect, migrate_database
from models.health import MachineTwin
from models.ledger import Transaction
from models.schema import COLLECTIONS, RETENTION_INDEX_NAME, SchemaBehind, schema_problems
from tests.audit_cli_support import Run
from tests.audit_cli_support import cashcc as run_cashcc
from tests.factories import Factory, heartbeat, tx
from tests.serve_support import served
from tests.servers import ApiServer, server_env


@pytest.fixture
async def empty_db(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A database name nothing has touched yet, dropped afterwards."""
    assert settings.mongodb_uri
    name = f"cashcc_migrate_{uuid.uuid4().hex[:8]}"
    yield settings.mongodb_uri, name
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri)
    await client.drop_database(name)
    await client.close()


async def cashcc(*args: str, uri: str, db: str, **env: str) -> Run:
    """`cashcc *args` against database `db` (through the tests' one subprocess helper)."""
    return await run_cashcc(*args, env={**os.environ, "MONGODB_URI": uri, "MONGODB_DB": db, **env})


async def ttl_days(uri: str, name: str) -> float:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        info = await client[name][Transaction.Settings.name].index_information()
        return info[RETENTION_INDEX_NAME]["expireAfterSeconds"] / 86_400
    finally:
        await client.close()


async def test_migrate_builds_an_empty_database_and_a_second_run_changes_nothing(
    empty_db: tuple[str, str],
) -> None:
    uri, name = empty_db
    first = await cashcc("migrate", uri=uri, db=name)
    assert first.code == 0, first.err
    assert "created collection security_log_heads" in first.said
    assert "created index transactions.org_id_1_machine_id_1_seq_1" in first.said
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        assert set(COLLECTIONS) <= set(await client[name].list_collection_names())
        assert await schema_problems(client[name], retention_days=92) == []
    finally:
        await client.close()

    again = await cashcc("migrate", uri=uri, db=name)
    assert again.code == 0, again.err
    assert again.out == ["schema up to date (0 change(s))"]


async def test_migrate_on_a_populated_database_keeps_the_data_and_applies_a_retention_change(
    factory: Factory, settings: Settings
) -> None:
    # given the test database, migrated and holding transactions
    assert settings.mongodb_uri
    tenant = await factory.tenant()
    assert (await factory.ingest(tenant, [tx(1), tx(2)]))["accepted"] == 2
    try:
        # when the deploy lowers RETENTION_DAYS and migrates twice
        lowered = await cashcc(
            "migrate", uri=settings.mongodb_uri, db=settings.mongodb_db, RETENTION_DAYS="30"
        )
        assert lowered.code == 0, lowered.err
        assert lowered.out == [
            "retention TTL changed to 30 days",
            "schema up to date (1 change(s))",
        ]
        assert await ttl_days(settings.mongodb_uri, settings.mongodb_db) == 30
        again = await cashcc(
            "migrate", uri=settings.mongodb_uri, db=settings.mongodb_db, RETENTION_DAYS="30"
        )
        assert again.out == ["schema up to date (0 change(s))"]
    finally:
        await migrate_database(settings.mongodb_uri, settings.mongodb_db, retention_days=92)
    # then the data is untouched
    stored = await Transaction.get_pymongo_collection().count_documents({"org_id": tenant.org.id})
    assert stored == 2


async def test_a_process_refuses_to_connect_while_the_schema_is_behind(
    empty_db: tuple[str, str],
) -> None:
    uri, name = empty_db
    with pytest.raises(SchemaBehind, match=r"run `cashcc migrate`") as behind:
        await connect(uri, name, retention_days=92)
    assert "collection transactions missing" in behind.value.problems

    await migrate_database(uri, name, retention_days=92)
    with pytest.raises(SchemaBehind) as other_period:
        await connect(uri, name, retention_days=30)
    assert other_period.value.problems == ["retention TTL is 92 days, RETENTION_DAYS is 30"]


def test_a_worker_on_an_unmigrated_database_exits_with_a_message_naming_the_migration(
    settings: Settings,
) -> None:
    assert settings.mongodb_uri
    name = f"cashcc_unmigrated_{uuid.uuid4().hex[:8]}"
    server = ApiServer(server_env(mongodb_uri=settings.mongodb_uri, mongodb_db=name))
    with pytest.raises(RuntimeError, match="uvicorn exited") as refused:
        server.start()
    server.stop()
    assert "the database schema is behind this version" in str(refused.value)
    assert "run `cashcc migrate`" in str(refused.value)


async def test_a_cli_command_on_an_unmigrated_database_says_to_migrate(settings: Settings) -> None:
    assert settings.mongodb_uri
    name = f"cashcc_unmigrated_{uuid.uuid4().hex[:8]}"
    listing = await cashcc("orgs", uri=settings.mongodb_uri, db=name)
    assert listing.code == 2
    assert "run `cashcc migrate`" in listing.said


async def test_a_missing_index_is_reported_by_a_worker_not_built(
    empty_db: tuple[str, str],
) -> None:
    uri, name = empty_db
    await migrate_database(uri, name, retention_days=92)
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        await client[name][Transaction.Settings.name].drop_index("org_id_1_occurred_at_1__id_1")
        with pytest.raises(SchemaBehind, match=r"index \(org_id,occurred_at,_id\) missing"):
            await connect(uri, name, retention_days=92)
        info = await client[name][Transaction.Settings.name].index_information()
        assert "org_id_1_occurred_at_1__id_1" not in info
    finally:
        await client.close()


def test_serve_on_the_embedded_default_migrates_itself(tmp_path: Path) -> None:
    # `make run` is `cashcc serve` with no MONGODB_URI: no separate step
    with served(tmp_path, mongodb_uri="", mongodb_db="cashcc", workers=1) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
        assert "migrate: created collection transactions" in server.log()


async def test_migrate_removes_the_null_deadlines_earlier_versions_stored(
    factory: Factory, settings: Settings
) -> None:
    """A null deadline is scanned by every due query of the evaluators on the embedded server;
    the migration leaves the field out instead, and then has nothing more to do."""
    assert settings.mongodb_uri
    tenant = await factory.tenant()
    await factory.report(tenant, [heartbeat(1)])
    twins = MachineTwin.get_pymongo_collection()
    machine = {"_id": tenant.machines[0].id}
    await twins.update_one(machine, {"$set": {"alerts_due_at": None, "next_check_at": None}})

    changes = await migrate_database(settings.mongodb_uri, settings.mongodb_db, retention_days=92)

    assert any("null twin deadlines" in c for c in changes)
    twin = await twins.find_one(machine)
    assert twin is not None
    assert "alerts_due_at" not in twin
    assert "next_check_at" not in twin
    again = await migrate_database(settings.mongodb_uri, settings.mongodb_db, retention_days=92)
    assert not any("null twin deadlines" in c for c in again)
