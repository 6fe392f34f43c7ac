"""Scope-taking data functions over transactions and per-machine inventory state.

The ingest hot path uses raw documents (no per-record model validation) inside one
multi-document transaction; every function here filters by the caller's `Scope`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.duplicates import duplicates_raised_as_duplicate_key
from models.ledger import MachineInventory, Transaction
from models.paging import after_key, newest_first, time_window
from models.scope import Scope, id_first


def _transactions() -> AsyncCollection:
    return Transaction.get_pymongo_collection()


def _inventory() -> AsyncCollection:
    return MachineInventory.get_pymongo_collection()


def _one_machine(scope: Scope, machine_id: ObjectId, field: str) -> dict[str, Any]:
    """Scope filter for a single machine; matches nothing when the machine is out of scope."""
    query = scope.filter(machine_field=field)
    allowed = scope.machine_ids is None or machine_id in scope.machine_ids
    query[field] = machine_id if allowed else {"$in": []}
    return id_first(query)


def _machine_filter(scope: Scope, machine_id: ObjectId) -> dict[str, Any]:
    return _one_machine(scope, machine_id, "machine_id")


def _inventory_filter(scope: Scope, machine_id: ObjectId) -> dict[str, Any]:
    return _one_machine(scope, machine_id, "_id")


async def find_inventory_state(
    *, scope: Scope, machine_id: ObjectId, session: AsyncClientSession | None = None
) -> dict[str, Any] | None:
    """The raw inventory/chain-state document of one machine, if it is in scope."""
    return await _inventory().find_one(_inventory_filter(scope, machine_id), session=session)


async def list_inventory_states(
    *, scope: Scope, machine_ids: Sequence[ObjectId] | None = None
) -> list[dict[str, Any]]:
    """Inventory documents of every machine in scope (optionally only `machine_ids`)."""
    query = scope.filter(machine_field="_id")
    if machine_ids is not None:
        allowed = set(machine_ids)
        if scope.machine_ids is not None:
            allowed &= scope.machine_ids
        query["_id"] = {"$in": sorted(allowed)}
    cursor = _inventory().find(id_first(query)).sort([("shop_id", ASCENDING), ("_id", ASCENDING)])
    return await cursor.to_list(length=None)


async def save_inventory_state(
    *,
    scope: Scope,
    state: dict[str, Any],
    expected_version: int,
    session: AsyncClientSession,
) -> bool:
    """Compare-and-set the machine's state; False when another writer got there first."""
    query = _inventory_filter(scope, state["_id"])
    query["version"] = expected_version
    replacement = {k: v for k, v in state.items() if k != "_id"}
    result = await _inventory().replace_one(query, replacement, session=session)
    return result.matched_count == 1


async def stored_content_hashes(
    *,
    scope: Scope,
    machine_id: ObjectId,
    seqs: Sequence[int],
    session: AsyncClientSession,
) -> dict[int, str]:
    """`seq -> content_hash` of stored transactions among `seqs` (expired ones are absent)."""
    query = _machine_filter(scope, machine_id)
    query["seq"] = {"$in": list(seqs)}
    cursor = _transactions().find(query, {"seq": 1, "content_hash": 1, "_id": 0}, session=session)
    return {doc["seq"]: doc["content_hash"] async for doc in cursor}


async def insert_transactions(docs: list[dict[str, Any]], *, session: AsyncClientSession) -> None:
    """Insert a batch's new transactions; raises DuplicateKeyError when a seq or a chain
    position of the machine is already stored (a concurrent batch won: retry on fresh state)."""
    if docs:
        with duplicates_raised_as_duplicate_key():
            await _transactions().insert_many(docs, ordered=True, session=session)


async def iter_chain(*, scope: Scope, machine_id: ObjectId) -> AsyncIterator[dict[str, Any]]:
    """The machine's stored transactions in chain order."""
    cursor = (
        _transactions().find(_machine_filter(scope, machine_id)).sort("chain_position", ASCENDING)
    )
    async for doc in cursor:
        yield doc


async def page_transactions(
    *,
    scope: Scope,
    types: Sequence[str] | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    after: tuple[datetime, ObjectId] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest-first transactions in scope, strictly after the `(occurred_at, _id)` cursor."""
    query = scope.filter()
    if types:
        query["type"] = {"$in": list(types)}
    window = time_window(occurred_from, occurred_to)
    if window:
        query["occurred_at"] = window
    if after is not None:
        query = {"$and": [query, after_key("occurred_at", after)]}
    cursor = _transactions().find(query).sort(newest_first("occurred_at")).limit(limit)
    return await cursor.to_list(length=limit)


async def find_transaction(*, scope: Scope, transaction_id: ObjectId) -> dict[str, Any] | None:
    """One stored transaction in scope, by id."""
    query = scope.filter()
    query["_id"] = transaction_id
    return await _transactions().find_one(id_first(query))


async def chain_range(
    *, scope: Scope, machine_id: ObjectId, first: int, last: int
) -> AsyncIterator[dict[str, Any]]:
    """The machine's stored transactions at chain positions first..last, in chain order."""
    query = _machine_filter(scope, machine_id)
    query["chain_position"] = {"$gte": first, "$lte": last}
    async for doc in _transactions().find(query).sort("chain_position", ASCENDING):
        yield doc


async def first_in_chain(
    *, scope: Scope, machine_id: ObjectId, from_position: int
) -> dict[str, Any] | None:
    """The machine's first stored transaction at or after a chain position."""
    query = _machine_filter(scope, machine_id)
    query["chain_position"] = {"$gte": from_position}
    cursor = _transactions().find(query).sort("chain_position", ASCENDING).limit(1)
    docs = await cursor.to_list(length=1)
    return docs[0] if docs else None
