"""The per-machine audit chain detects modified, deleted, reordered and truncated records,
and concurrent batches from several server processes never fork it."""

from __future__ import annotations

import asyncio

import httpx

from config import Settings
from models.ledger import Transaction
from models.ledger_store import find_inventory_state
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.chain import link_hash
from resolvers.audit.checkpoints import produce_checkpoints
from resolvers.audit.log_check import verify_machine_chain
from tests.factories import INGEST, Factory, Tenant, gql_data, ingest_variables, tx
from tests.servers import uvicorn_server

VERIFY = """
query Verify($id: ID!) {
  verifyMachineChain(machineId: $id) {
    ok checked firstPosition lastPosition headPosition brokenPosition reason
  }
}
"""


async def verify(factory: Factory, tenant: Tenant) -> dict:
    data = await gql_data(
        factory.client, VERIFY, {"id": tenant.machine_id}, token=tenant.admin_token
    )
    return data["verifyMachineChain"]


async def verify_broken_at(factory: Factory, tenant: Tenant, position: int) -> dict:
    """Verify the tenant's chain, assert that it fails at `position`, and return the result."""
    result = await verify(factory, tenant)
    assert (result["ok"], result["brokenPosition"]) == (False, position), result
    return result


def collection():
    return Transaction.get_pymongo_collection()


async def chained_tenant(factory: Factory, n: int = 5) -> Tenant:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(seq, lines=[(1000, seq)]) for seq in range(1, n + 1)])
    return tenant


async def test_an_intact_chain_verifies(factory: Factory) -> None:
    tenant = await chained_tenant(factory)
    result = await verify(factory, tenant)
    assert result == {
        "ok": True,
        "checked": 5,
        "firstPosition": 1,
        "lastPosition": 5,
        "headPosition": 5,
        "brokenPosition": None,
        "reason": None,
    }


async def test_a_modified_record_is_detected(factory: Factory) -> None:
    tenant = await chained_tenant(factory)
    await collection().update_one(
        {"org_id": tenant.org.id, "chain_position": 3}, {"$set": {"amount": 1}}
    )
    result = await verify_broken_at(factory, tenant, 3)
    assert "content" in result["reason"]


async def test_a_deleted_record_is_detected(factory: Factory) -> None:
    tenant = await chained_tenant(factory)
    await collection().delete_one({"org_id": tenant.org.id, "chain_position": 3})
    await verify_broken_at(factory, tenant, 3)


async def test_reordered_records_are_detected(factory: Factory) -> None:
    tenant = await chained_tenant(factory)
    query = {"org_id": tenant.org.id}
    await collection().update_one({**query, "chain_position": 2}, {"$set": {"chain_position": -2}})
    await collection().update_one({**query, "chain_position": 3}, {"$set": {"chain_position": 2}})
    await collection().update_one({**query, "chain_position": -2}, {"$set": {"chain_position": 3}})
    await verify_broken_at(factory, tenant, 2)


async def test_a_relinked_forgery_is_named_by_the_log(factory: Factory) -> None:
    """Changing a record and recomputing its own hash breaks the next link, and the Merkle log
    names the forged record itself: its hash is not the leaf the log stored for it."""
    tenant = await chained_tenant(factory)
    doc = await collection().find_one({"org_id": tenant.org.id, "chain_position": 2})
    doc["amount"] = 1
    doc["hash"] = link_hash(doc)
    await collection().replace_one({"_id": doc["_id"]}, doc)
    result = await verify_broken_at(factory, tenant, 2)
    assert "leaf" in result["reason"]


async def test_truncated_newest_records_are_detected(factory: Factory) -> None:
    tenant = await chained_tenant(factory)
    await collection().delete_one({"org_id": tenant.org.id, "chain_position": 5})
    result = await verify_broken_at(factory, tenant, 5)
    assert result["lastPosition"] == 4


async def test_a_prefix_removed_by_retention_is_accepted_but_not_a_fresh_one(
    factory: Factory,
) -> None:
    tenant = await chained_tenant(factory)
    await produce_checkpoints(settings=factory.settings, now=utcnow(), org_id=tenant.org.id)
    await collection().delete_many({"org_id": tenant.org.id, "chain_position": {"$lt": 3}})
    await verify_broken_at(factory, tenant, 2)

    # With a one-day retention every record is at the retention edge: what the TTL removes
    # is the oldest records, exactly as deleted here.
    one_day = factory.settings.model_copy(update={"retention_days": 1})
    expired = await verify_machine_chain(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id, settings=one_day
    )
    assert (expired.ok, expired.first_position, expired.checked) == (True, 3, 3)
    assert (expired.checkpoint_size, expired.checkpoints_checked) == (5, 1)


async def test_concurrent_batches_from_two_server_processes_do_not_fork_the_chain(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    batches = [[tx(b * 20 + i, lines=[(500, 1)]) for i in range(1, 21)] for b in range(12)]
    with uvicorn_server(settings) as first, uvicorn_server(settings) as second:
        async with httpx.AsyncClient(timeout=60) as http:

            async def send(index: int, batch: list[dict]) -> dict:
                base = (first, second)[index % 2]
                response = await http.post(
                    f"{base}/graphql",
                    headers={"X-API-Key": tenant.api_key},
                    json={"query": INGEST, "variables": ingest_variables(tenant.machine_id, batch)},
                )
                return response.json()["data"]["ingestTransactions"]

            results = await asyncio.gather(*(send(i, b) for i, b in enumerate(batches)))
    assert sum(r["accepted"] for r in results) == 240
    state = await find_inventory_state(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert state["counts"] == {"N500": 240}
    assert state["chain_position"] == 240
    result = await verify(factory, tenant)
    assert (result["ok"], result["checked"]) == (True, 240)
