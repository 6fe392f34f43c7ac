"""Helpers of the audit-log tests: checkpoints now, bundles in memory, tampering by hand."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from config import Settings
from models.audit import AuditCheckpoint, AuditTreePage, LogKey
from models.audit_store import append_tree_nodes
from models.db import get_database
from models.ledger import MachineInventory, Transaction
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle import bundle_lines, resolve_period
from resolvers.audit.bundle_check import BundleReport, check_bundle
from resolvers.audit.chain import link_hash
from resolvers.audit.checkpoints import CheckpointRun, produce_checkpoints
from resolvers.audit.keys import key_ring
from resolvers.audit.logs import extend_log
from resolvers.audit.note import Signer, format_signer_key
from tests.factories import Factory, Tenant, tx

# A production-grade audit configuration for tests of production mode (the seed is public:
# never use it anywhere else).
TEST_SIGNER = Signer("audit.test.example", 1, hashlib.sha256(b"cashcc test audit key").digest())
PRODUCTION_AUDIT = {
    "audit_signing_keys": [format_signer_key(TEST_SIGNER)],
    "audit_log_origin": "audit.test.example",
}


async def checkpoint(settings: Settings, tenant: Tenant) -> CheckpointRun:
    return await produce_checkpoints(settings=settings, now=utcnow(), org_id=tenant.org.id)


async def logged_tenant(factory: Factory, batches: list[int]) -> Tenant:
    """A tenant whose machine ingested batches of these sizes, each then checkpointed."""
    tenant = await factory.tenant()
    seq = 0
    for size in batches:
        await factory.ingest(
            tenant, [tx(seq + i, lines=[(1000, seq + i)]) for i in range(1, size + 1)]
        )
        seq += size
        await checkpoint(factory.settings, tenant)
    return tenant


async def export(settings: Settings, tenant: Tenant, **window: Any) -> list[str]:
    now = utcnow()
    period = await resolve_period(
        scope=Scope.organization(tenant.org.id),
        start=window.get("start", now - timedelta(days=1)),
        end=window.get("end", now + timedelta(days=1)),
        shop_id=None,
    )
    return [line async for line in bundle_lines(period, settings=settings)]


def verified(lines: list[str], settings: Settings, **keys: Any) -> BundleReport:
    log_keys = keys.get("log_keys", key_ring(settings).verifier_keys)
    return check_bundle(lines, log_keys=log_keys, witness_keys=keys.get("witness_keys", []))


def transactions():
    return Transaction.get_pymongo_collection()


def checkpoints():
    return AuditCheckpoint.get_pymongo_collection()


async def chain_of(tenant: Tenant) -> list[dict[str, Any]]:
    return await transactions().find({"org_id": tenant.org.id}).sort("chain_position").to_list()


async def relink(tenant: Tenant, docs: list[dict[str, Any]]) -> None:
    """Store `docs` as the chain with consistent links and hashes, and move the head."""
    prev = "0" * 64
    for doc in docs:
        doc["prev_hash"] = prev
        doc["hash"] = prev = link_hash(doc)
    await transactions().delete_many({"org_id": tenant.org.id})
    await transactions().insert_many(docs)
    await MachineInventory.get_pymongo_collection().update_one(
        {"_id": tenant.machines[0].id},
        {"$set": {"chain_position": len(docs), "chain_hash": prev}},
    )


async def rebuild_tree(tenant: Tenant, docs: list[dict[str, Any]]) -> None:
    """Replace the machine's Merkle tree (nodes and compact range) by one over `docs`."""
    machine = tenant.machines[0]
    tree = extend_log([], 0, [d["hash"] for d in docs])
    assert tree is not None
    await AuditTreePage.get_pymongo_collection().delete_many({"machine_id": machine.id})
    await get_database().in_transaction(
        lambda session: append_tree_nodes(
            log=LogKey(tenant.org.id, machine.id),
            shop_id=machine.shop_id,
            nodes=tree.nodes,
            session=session,
        )
    )
    await MachineInventory.get_pymongo_collection().update_one(
        {"_id": machine.id}, {"$set": {"audit_compact": tree.compact}}
    )
