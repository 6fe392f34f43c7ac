"""Data functions of the audit logs: tree pages, checkpoints, log heads, scheduler slots.

Node storage: a log of n leaves has 2n - popcount(n) complete-subtree nodes, each stored once
in the page of its last leaf (`AuditTreePage`). Appends write the nodes they complete with one
`bulk_write` of `$push` updates, conditional on how many nodes each page holds, inside the caller's
transaction: a page can only ever grow by exactly the nodes that follow what it holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.audit import AuditCheckpoint, AuditLogHead, AuditSlot, AuditTreePage, LogKey
from models.duplicates import duplicates_raised_as_duplicate_key
from models.ledger import MachineInventory
from models.scope import Scope
from models.security_log import HEADS

PAGE_LEAVES = 64

Address = tuple[int, int]
"""A complete subtree (level, index), as `resolvers.audit.merkle.NodeAddr`."""


class TreeMoved(Exception):
    """A page did not hold the nodes the append expected: another writer appended first."""


def _pages() -> AsyncCollection:
    return AuditTreePage.get_pymongo_collection()


def _checkpoints() -> AsyncCollection:
    return AuditCheckpoint.get_pymongo_collection()


def _heads() -> AsyncCollection:
    return AuditLogHead.get_pymongo_collection()


def _slots() -> AsyncCollection:
    return AuditSlot.get_pymongo_collection()


def _nodes_before(leaves: int) -> int:
    """How many nodes a log of `leaves` leaves holds: 2n - popcount(n)."""
    return 2 * leaves - leaves.bit_count()


def node_slot(address: Address) -> tuple[int, int]:
    """(page, position in the page) of a node: the page of its last leaf; the position counts
    the nodes the page's earlier leaves completed, then the lower levels its own leaf closed."""
    level, index = address
    last = ((index + 1) << level) - 1
    page = last // PAGE_LEAVES
    return page, _nodes_before(last) + level - _nodes_before(page * PAGE_LEAVES)


def _log_filter(scope: Scope, machine_id: ObjectId | None) -> dict[str, Any]:
    """One log in scope (matches nothing when the machine is outside it); the security log
    (machine None) only for an organization-wide scope."""
    query = scope.filter()
    allowed = machine_id is None or scope.machine_ids is None or machine_id in scope.machine_ids
    query["machine_id"] = machine_id if allowed else {"$in": []}
    return query


# --- tree pages -------------------------------------------------------------------------------


async def append_tree_nodes(
    *,
    log: LogKey,
    shop_id: ObjectId | None,
    nodes: Sequence[tuple[Address, bytes]],
    session: AsyncClientSession,
) -> None:
    """Store the nodes one append completed (in completion order) in their pages.

    Raises TreeMoved or DuplicateKeyError when a page already holds other nodes than the
    append expects (a concurrent append won): the caller's transaction must be retried.
    """
    grouped: dict[int, tuple[int, list[bytes]]] = {}
    for address, value in nodes:
        page, position = node_slot(address)
        offset, hashes = grouped.setdefault(page, (position, []))
        if position != offset + len(hashes):
            raise ValueError(f"node {address} is not the next node of page {page}")
        hashes.append(value)
    if not grouped:
        return
    key = {"org_id": log.org_id, "machine_id": log.machine_id}
    operations = [
        UpdateOne(
            {**key, "page": page, "filled": offset},
            {
                "$push": {"hashes": {"$each": hashes}},
                "$inc": {"filled": len(hashes)},
                "$set": {"shop_id": shop_id},
            },
            upsert=offset == 0,
        )
        for page, (offset, hashes) in grouped.items()
    ]
    with duplicates_raised_as_duplicate_key():
        result = await _pages().bulk_write(operations, ordered=True, session=session)
    if result.matched_count + result.upserted_count != len(operations):
        raise TreeMoved(log)


async def fetch_tree_nodes(
    *, scope: Scope, machine_id: ObjectId | None, addresses: Iterable[Address]
) -> dict[Address, bytes]:
    """The stored hashes of `addresses` (those not stored yet are absent)."""
    wanted = {(level, index): node_slot((level, index)) for level, index in addresses}
    pages = sorted({page for page, _ in wanted.values()})
    if not pages:
        return {}
    query = _log_filter(scope, machine_id)
    query["page"] = {"$in": pages}
    found: dict[int, list[bytes]] = {}
    async for doc in _pages().find(query, {"page": 1, "hashes": 1, "_id": 0}):
        found[doc["page"]] = doc["hashes"]
    nodes: dict[Address, bytes] = {}
    for address, (page, position) in wanted.items():
        hashes = found.get(page)
        if hashes is not None and position < len(hashes):
            nodes[address] = hashes[position]
    return nodes


# --- checkpoints ------------------------------------------------------------------------------


async def insert_checkpoint(checkpoint: dict[str, Any]) -> bool:
    """Store a checkpoint unless one of this size exists already (False then: another worker
    signed it first, and its note is the one that counts)."""
    try:
        await _checkpoints().insert_one(checkpoint)
    except DuplicateKeyError:
        return False
    return True


async def advance_log_head(
    *, log: LogKey, shop_id: ObjectId | None, size: int, root: str, as_of: datetime
) -> None:
    """Record that the log has a checkpoint of `size` (never moves backwards)."""
    key = {"org_id": log.org_id, "machine_id": log.machine_id}
    head = {"shop_id": shop_id, "size": size, "root": root, "as_of": as_of}
    with contextlib.suppress(DuplicateKeyError):  # the head is at this size or beyond already
        await _heads().update_one({**key, "size": {"$lt": size}}, {"$set": head}, upsert=True)


async def log_heads(*, org_id: ObjectId | None = None) -> dict[LogKey, dict[str, Any]]:
    """`LogKey -> {size, root, as_of}` of every log with a checkpoint (operators' jobs:
    unscoped)."""
    query = {} if org_id is None else {"org_id": org_id}
    return {
        LogKey(doc["org_id"], doc["machine_id"]): doc
        async for doc in _heads().find(query, {"_id": 0})
    }


async def tree_states(
    *, org_id: ObjectId | None = None, shop_ids: Sequence[ObjectId] | None = None
) -> list[dict[str, Any]]:
    """Size and compact range of every log: machine states and, unless narrowed to shops, the
    security log heads, as `{log, shop_id, size, compact}` (operators' jobs: unscoped)."""
    query: dict[str, Any] = {} if org_id is None else {"org_id": org_id}
    if shop_ids is not None:
        query["shop_id"] = {"$in": list(shop_ids)}
    fields = {"org_id": 1, "shop_id": 1, "chain_position": 1, "audit_compact": 1}
    states = [
        {
            "log": LogKey(doc["org_id"], doc["_id"]),
            "shop_id": doc["shop_id"],
            "size": doc["chain_position"],
            "compact": doc.get("audit_compact"),
        }
        async for doc in MachineInventory.get_pymongo_collection().find(query, fields)
    ]
    if shop_ids is None:
        heads = MachineInventory.get_pymongo_collection().database[HEADS]
        head_query = {} if org_id is None else {"_id": org_id}
        async for doc in heads.find(head_query):
            states.append(
                {
                    "log": LogKey(doc["_id"], None),
                    "shop_id": None,
                    "size": doc["position"],
                    "compact": doc.get("audit_compact"),
                }
            )
    return states


async def find_checkpoint(
    *, scope: Scope, machine_id: ObjectId | None, size: int
) -> dict[str, Any] | None:
    query = _log_filter(scope, machine_id)
    query["size"] = size
    return await _checkpoints().find_one(query)


async def latest_checkpoint(*, scope: Scope, machine_id: ObjectId | None) -> dict[str, Any] | None:
    cursor = _checkpoints().find(_log_filter(scope, machine_id)).sort("size", DESCENDING)
    docs = await cursor.limit(1).to_list()
    return docs[0] if docs else None


async def page_checkpoints(
    *, scope: Scope, machine_id: ObjectId | None, below_size: int | None, limit: int
) -> list[dict[str, Any]]:
    """The log's checkpoints, newest (largest) first, below a size."""
    query = _log_filter(scope, machine_id)
    if below_size is not None:
        query["size"] = {"$lt": below_size}
    cursor = _checkpoints().find(query).sort("size", DESCENDING)
    return await cursor.limit(limit).to_list()


async def checkpoints_between(
    *, scope: Scope, machine_id: ObjectId | None, min_size: int, max_size: int | None = None
) -> list[dict[str, Any]]:
    """The log's checkpoints with min_size <= size (<= max_size), smallest first."""
    query = _log_filter(scope, machine_id)
    query["size"] = {"$gte": min_size, **({"$lte": max_size} if max_size is not None else {})}
    return await _checkpoints().find(query).sort("size", ASCENDING).to_list()


async def checkpoint_as_of(
    *, scope: Scope, machine_id: ObjectId | None, at: datetime
) -> dict[str, Any] | None:
    """The log's largest checkpoint closing at or before `at` (as_of grows with size)."""
    query = _log_filter(scope, machine_id)
    query["as_of"] = {"$lte": at}
    cursor = _checkpoints().find(query).sort([("as_of", DESCENDING), ("size", DESCENDING)])
    docs = await cursor.limit(1).to_list()
    return docs[0] if docs else None


async def replace_checkpoint_note(
    *, scope: Scope, machine_id: ObjectId | None, size: int, old_note: str, new_note: str
) -> bool:
    """Swap the note (a cosignature appended) unless it changed meanwhile."""
    query = _log_filter(scope, machine_id)
    query.update(size=size, note=old_note)
    result = await _checkpoints().update_one(query, {"$set": {"note": new_note}})
    return result.matched_count == 1


# --- scheduler slots --------------------------------------------------------------------------


async def claim_slot(
    *, slot: str, owner: str, now: datetime, lease_until: datetime, expires_at: datetime
) -> bool:
    """Whether `owner` runs `slot`: it inserted it, or took over an unfinished one whose
    lease ended (its worker died)."""
    try:
        await _slots().insert_one(
            {"_id": slot, "owner": owner, "lease_until": lease_until, "expires_at": expires_at}
        )
        return True
    except DuplicateKeyError:
        taken = await _slots().find_one_and_update(
            {"_id": slot, "done_at": None, "lease_until": {"$lt": now}},
            {"$set": {"owner": owner, "lease_until": lease_until}},
        )
        return taken is not None


async def finish_slot(*, slot: str, owner: str, now: datetime, checkpoints: int) -> None:
    await _slots().update_one(
        {"_id": slot, "owner": owner}, {"$set": {"done_at": now, "checkpoints": checkpoints}}
    )
