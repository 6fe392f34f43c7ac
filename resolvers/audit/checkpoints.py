"""Signing checkpoints of every log that grew (docs/audit.md, "Checkpoints in the service").

A run reads each log's size and compact range from the state document the ingest transaction
updates, and signs `<origin>\\n<size>\\n<base64 root>\\n` with the ring's active key. Before it
signs, it checks a consistency proof from the log's previous checkpoint to the new root, built
from the stored nodes, so the service never signs a tree that does not extend what it signed
before (a rewritten database is refused, and logged). Checkpoints are stored under a unique
(org_id, machine_id, size) index: when several workers sign the same size at once, one
document is stored and the others are dropped (`lost`); none is ever replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bson import ObjectId

from config import Settings
from models.audit import LogKey
from models.audit_store import (
    advance_log_head,
    fetch_tree_nodes,
    insert_checkpoint,
    log_heads,
    tree_states,
)
from models.scope import Scope
from resolvers.audit.checkpoint import Checkpoint, format_checkpoint
from resolvers.audit.keys import key_ring
from resolvers.audit.logs import log_origin, stored_root
from resolvers.audit.merkle import (
    ProofError,
    check_consistency,
    consistency_proof,
    consistency_proof_addresses,
)
from resolvers.audit.note import sign_note

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedCheckpoint:
    """A signed checkpoint not stored yet."""

    log: LogKey
    shop_id: ObjectId | None
    origin: str
    size: int
    root: bytes
    note: str
    key_name: str
    key_id: str
    previous_as_of: datetime | None


@dataclass
class CheckpointRun:
    """What one run did: checkpoints stored, lost to another worker, refused (inconsistent)."""

    stored: list[PlannedCheckpoint] = field(default_factory=list)
    lost: int = 0
    refused: list[LogKey] = field(default_factory=list)


async def _extends_previous(
    key: LogKey, origin: str, previous: dict | None, size: int, root: bytes
) -> bool:
    if previous is None:
        return True
    old_size, old_root = previous["size"], bytes.fromhex(previous["root"])
    if old_size > size:
        log.error("refusing to sign log %s: it shrank from %s to %s", origin, old_size, size)
        return False
    addresses = consistency_proof_addresses(old_size, size)
    nodes = await fetch_tree_nodes(
        scope=Scope.organization(key.org_id), machine_id=key.machine_id, addresses=addresses
    )
    try:
        check_consistency(old_size, size, consistency_proof(old_size, size, nodes), old_root, root)
    except (ProofError, ValueError) as exc:
        log.error(
            "refusing to sign log %s at size %s: it does not extend the checkpoint of size %s (%s)",
            origin,
            size,
            old_size,
            exc,
        )
        return False
    return True


async def plan_checkpoints(
    *,
    settings: Settings,
    org_id: ObjectId | None = None,
    shop_ids: Sequence[ObjectId] | None = None,
) -> tuple[list[PlannedCheckpoint], list[LogKey]]:
    """Sign a checkpoint for every log (of the organization, of the shops) that grew since
    its last checkpoint and still extends it; returns them and the logs refused."""
    ring = key_ring(settings)
    heads = await log_heads(org_id=org_id)
    planned: list[PlannedCheckpoint] = []
    refused: list[LogKey] = []
    for state in await tree_states(org_id=org_id, shop_ids=shop_ids):
        key, size, compact = state["log"], state["size"], state["compact"]
        previous = heads.get(key)
        if compact is None or size == 0 or (previous and previous["size"] == size):
            continue
        origin = log_origin(settings.audit_log_origin, key)
        try:
            root = stored_root(compact, size)
        except ValueError as exc:
            log.error(
                "refusing to sign log %s: its stored compact range is wrong (%s)", origin, exc
            )
            refused.append(key)
            continue
        if not await _extends_previous(key, origin, previous, size, root):
            refused.append(key)
            continue
        body = format_checkpoint(Checkpoint(origin, size, root))
        planned.append(
            PlannedCheckpoint(
                log=key,
                shop_id=state["shop_id"],
                origin=origin,
                size=size,
                root=root,
                note=sign_note(body, [ring.signer]),
                key_name=ring.signer.name,
                key_id=f"{ring.signer.key_id:08x}",
                previous_as_of=previous["as_of"] if previous else None,
            )
        )
    return planned, refused


async def store_checkpoints(
    planned: Sequence[PlannedCheckpoint], *, as_of: datetime, now: datetime
) -> CheckpointRun:
    """Store each planned checkpoint unless its size exists already, and move the log heads.

    `as_of` never goes below the log's previous checkpoint's, so it grows with the size."""
    run = CheckpointRun()
    for cp in planned:
        closes = max(as_of, cp.previous_as_of) if cp.previous_as_of else as_of
        stored = await insert_checkpoint(
            {
                "org_id": cp.log.org_id,
                "machine_id": cp.log.machine_id,
                "shop_id": cp.shop_id,
                "origin": cp.origin,
                "size": cp.size,
                "root": cp.root.hex(),
                "note": cp.note,
                "key_name": cp.key_name,
                "key_id": cp.key_id,
                "as_of": closes,
                "created_at": now,
            }
        )
        if stored:
            run.stored.append(cp)
        else:
            run.lost += 1
        await advance_log_head(
            log=cp.log, shop_id=cp.shop_id, size=cp.size, root=cp.root.hex(), as_of=closes
        )
    return run


async def produce_checkpoints(
    *,
    settings: Settings,
    now: datetime,
    as_of: datetime | None = None,
    org_id: ObjectId | None = None,
    shop_ids: Sequence[ObjectId] | None = None,
) -> CheckpointRun:
    """Sign and store checkpoints of every log that grew (see the module docstring)."""
    planned, refused = await plan_checkpoints(settings=settings, org_id=org_id, shop_ids=shop_ids)
    run = await store_checkpoints(planned, as_of=as_of or now, now=now)
    run.refused = refused
    return run
