"""A batch commits whole or not at all, even when the database fails in the middle of it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from models.db import Database
from models.ledger import IngestBatch, Transaction
from models.ledger_store import find_inventory_state
from models.scope import Scope
from tests.factories import INGEST, Factory, Tenant, gql, ingest_variables, tx


@contextlib.asynccontextmanager
async def fail_point(database: Database, data: dict, mode: dict) -> AsyncIterator[None]:
    await database.client.admin.command(
        {"configureFailPoint": "failCommand", "mode": mode, "data": data}
    )
    try:
        yield
    finally:
        await database.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


async def nothing_applied(tenant: Tenant) -> None:
    assert await Transaction.find({"org_id": tenant.org.id}).count() == 0
    assert await IngestBatch.find({"org_id": tenant.org.id}).count() == 0
    state = await find_inventory_state(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert state is not None
    assert (state["version"], state["counts"], state["chain_position"]) == (0, {}, 0)


async def ingest_body(factory: Factory, tenant: Tenant, key: str) -> dict:
    records = [tx(1, lines=[(1000, 3)]), tx(2, lines=[(2000, 1)])]
    return await gql(
        factory.client,
        INGEST,
        ingest_variables(tenant.machine_id, records, idempotency_key=key),
        api_key=tenant.api_key,
    )


async def test_failure_after_the_inserts_rolls_the_whole_batch_back(
    factory: Factory, database: Database
) -> None:
    """The transactions are inserted, then the machine-state update fails: nothing stays."""
    tenant = await factory.tenant()
    async with fail_point(database, {"failCommands": ["update"], "errorCode": 2}, {"times": 1}):
        body = await ingest_body(factory, tenant, "k1")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"]
    assert "Traceback" not in str(body)
    assert "failCommand" not in str(body)
    await nothing_applied(tenant)

    retry = await ingest_body(factory, tenant, "k1")
    assert retry["data"]["ingestTransactions"]["accepted"] == 2


async def test_failed_commit_leaves_nothing(factory: Factory, database: Database) -> None:
    tenant = await factory.tenant()
    async with fail_point(
        database, {"failCommands": ["commitTransaction"], "errorCode": 2}, {"times": 1}
    ):
        body = await ingest_body(factory, tenant, "k1")
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    await nothing_applied(tenant)


async def test_transient_error_is_retried_transparently_and_applied_once(
    factory: Factory, database: Database
) -> None:
    """A TransientTransactionError in the middle (skip the idempotency claim's insert, fail
    the transactions insert) is retried from the start; the batch lands exactly once."""
    tenant = await factory.tenant()
    async with fail_point(
        database,
        {
            "failCommands": ["insert"],
            "errorCode": 112,
            "errorLabels": ["TransientTransactionError"],
        },
        {"skip": 1, "times": 2},
    ):
        body = await ingest_body(factory, tenant, "k1")
    assert body["data"]["ingestTransactions"]["accepted"] == 2
    docs = await Transaction.find({"org_id": tenant.org.id}).to_list()
    assert sorted(d.seq for d in docs) == [1, 2]
    state = await find_inventory_state(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert state["counts"] == {"N1000": 3, "N2000": 1}
    assert state["chain_position"] == 2
