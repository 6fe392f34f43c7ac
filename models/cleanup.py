"""Removal of machines with everything recorded for them (simulation runs, test fleets)."""

from __future__ import annotations

import re

from bson import ObjectId

from models.audit import AuditCheckpoint, AuditLogHead, AuditTreePage
from models.identity import ApiKey
from models.ledger import IngestBatch, MachineInventory, Transaction
from models.machine import Machine
from models.organization import Shop
from models.scope import Scope
from models.summary import SUMMARY_DOCUMENTS


async def delete_machines(*, scope: Scope, machine_ids: list[ObjectId]) -> dict[str, int]:
    """Delete the organization's machines among `machine_ids` and their transactions, state,
    idempotency records, summaries and audit logs (tree nodes and checkpoints, which nothing
    else ever deletes); returns how many documents went per collection. Irreversible: for
    simulated and test fleets."""
    allowed = list(machine_ids)
    counts: dict[str, int] = {}
    by_machine = {"org_id": scope.org_id, "machine_id": {"$in": allowed}}
    for model in (
        Transaction,
        IngestBatch,
        *SUMMARY_DOCUMENTS.values(),
        AuditTreePage,
        AuditCheckpoint,
        AuditLogHead,
    ):
        result = await model.get_pymongo_collection().delete_many(by_machine)
        counts[model.Settings.name] = result.deleted_count
    for model in (MachineInventory, Machine):
        result = await model.get_pymongo_collection().delete_many(
            {"_id": {"$in": allowed}, "org_id": scope.org_id}
        )
        counts[model.Settings.name] = result.deleted_count
    return counts


async def delete_api_keys_named(*, scope: Scope, name: str) -> int:
    result = await ApiKey.get_pymongo_collection().delete_many(
        {"org_id": scope.org_id, "name": name}
    )
    return result.deleted_count


async def delete_empty_shops(*, scope: Scope, codes_prefix: str) -> int:
    """Delete the shops whose code starts with `codes_prefix` and that have no machine left,
    with their remaining API keys."""
    removed = 0
    pattern = {"$regex": f"^{re.escape(codes_prefix)}"}
    for shop in await Shop.find({"org_id": scope.org_id, "code": pattern}).to_list():
        if await Machine.find_one({"org_id": scope.org_id, "shop_id": shop.id}) is None:
            await ApiKey.get_pymongo_collection().delete_many(
                {"org_id": scope.org_id, "shop_id": shop.id}
            )
            await shop.delete()
            removed += 1
    return removed
