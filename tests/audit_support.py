"""Helpers of the audit-log tests: checkpoints now, bundles in memory, tampering by hand."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from config import Settings
from models.audit import AuditCheckpoint
from models.ledger import Transaction
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle import bundle_lines, resolve_period
from resolvers.audit.bundle_check import BundleReport, check_bundle
from resolvers.audit.checkpoints import CheckpointRun, produce_checkpoints
from resolvers.audit.keys import key_ring
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
