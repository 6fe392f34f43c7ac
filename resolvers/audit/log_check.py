"""Checking a stored log against its signed checkpoints, in the service (the DB side of
`resolvers.audit.segment`).

It starts from the last retained checkpoint: records the retention TTL removed are stood in
for by the stored subtree hashes of the prefix they covered, and the newest checkpoint that
covers only removed records is tied to the first one over retained records by a consistency
proof. Every checkpoint over retained records is then compared with the root rebuilt from the
records' own hashes, and each record's hash with the leaf the log stored for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from bson import ObjectId

from config import Settings
from models.audit import LogKey
from models.audit_store import checkpoints_between, fetch_tree_nodes, page_checkpoints
from models.ledger import GENESIS_HASH
from models.ledger_store import find_inventory_state, iter_chain
from models.machine_store import get_machine
from models.org_store import get_organization
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.canonical import chain_hash
from resolvers.audit.chain import CHAINED_FIELDS, ChainCheck, at_retention_edge, walk_chain
from resolvers.audit.keys import key_ring
from resolvers.audit.logs import log_origin
from resolvers.audit.merkle import (
    NodeAddr,
    compact_addresses,
    consistency_proof,
    consistency_proof_addresses,
)
from resolvers.audit.note import parse_verifier_key
from resolvers.audit.segment import Finding, LogRecord, Segment, SegmentCheck, verify_segment
from resolvers.errors import not_found


async def check_log(
    *,
    scope: Scope,
    log: LogKey,
    records: Sequence[dict[str, Any]],
    position_field: str,
    hashed_fields: tuple[str, ...],
    start: int,
    settings: Settings,
) -> SegmentCheck:
    """Check `records` (positions `start + 1 ...`, in order) of the log against every signed
    checkpoint from the last one before them."""
    anchor = await page_checkpoints(
        scope=scope, machine_id=log.machine_id, below_size=start, limit=1
    ) if start else []  # fmt: skip
    window = await checkpoints_between(scope=scope, machine_id=log.machine_id, min_size=start)
    checkpoints = anchor + window
    link = (anchor[0]["size"], window[0]["size"]) if anchor and window else None
    addresses: list[NodeAddr] = list(compact_addresses(start))
    if link:
        addresses += consistency_proof_addresses(*link)
    addresses += [NodeAddr(0, rec[position_field] - 1) for rec in records]
    nodes = await fetch_tree_nodes(scope=scope, machine_id=log.machine_id, addresses=addresses)
    missing = [a for a in compact_addresses(start) if a not in nodes]
    if missing:
        return SegmentCheck(
            Finding(start + 1, f"the log's stored nodes before record {start + 1} are missing"),
            0,
            None,
        )
    consistency = {}
    if link:
        with contextlib.suppress(ValueError):  # a missing node: reported as a missing proof
            consistency[link] = consistency_proof(*link, nodes)
    segment = Segment(
        origin=log_origin(settings.audit_log_origin, log),
        start=start,
        start_compact=[nodes[a] for a in compact_addresses(start)],
        checkpoints=[c["note"] for c in checkpoints],
        records=[
            LogRecord(
                position=rec[position_field],
                hash=rec["hash"],
                prev_hash=rec["prev_hash"],
                content_hash=chain_hash(rec, hashed_fields),
            )
            for rec in records
        ],
        consistency=consistency,
        logged_leaves={
            rec[position_field]: nodes[NodeAddr(0, rec[position_field] - 1)]
            for rec in records
            if NodeAddr(0, rec[position_field] - 1) in nodes
        },
    )
    org = await get_organization(scope=Scope.organization(log.org_id))
    witnesses = [parse_verifier_key(k) for k in (org.audit_witness_keys if org else [])]
    return verify_segment(segment, key_ring(settings).verifiers, witnesses)


def merged(chain: ChainCheck, log: SegmentCheck) -> ChainCheck:
    """The chain walk's result with the log check's: the first broken record of either."""
    checked = replace(
        chain, checkpoint_size=log.checkpoint_size, checkpoints_checked=log.checkpoints_checked
    )
    if log.finding is None:
        return checked
    broken = chain.broken_position
    if not chain.ok and broken is not None and broken <= log.finding.position:
        return checked
    return replace(
        checked, ok=False, broken_position=log.finding.position, reason=log.finding.reason
    )


async def _replay(records: Sequence[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for record in records:
        yield record


async def verify_machine_chain(
    *, scope: Scope, machine_id: ObjectId, settings: Settings
) -> ChainCheck:
    """Walk the machine's chain and check its log against the signed checkpoints; report the
    first broken record.

    Records older than the retention period are removed by the TTL index, so the walk may
    start after position 1; that is accepted only when the first remaining record is itself
    at the retention edge (within one day of expiring), and the log check then starts from
    the last checkpoint before it (see the module docstring).
    """
    machine = await get_machine(scope=scope, machine_id=machine_id)
    if machine is None:
        raise not_found("machine")
    state = await find_inventory_state(scope=scope, machine_id=machine_id)
    head = state["chain_position"] if state else 0
    records = [doc async for doc in iter_chain(scope=scope, machine_id=machine_id)]
    records = [doc for doc in records if doc["chain_position"] <= head]
    now = utcnow()
    check = await walk_chain(
        _replay(records),
        position_field="chain_position",
        hashed_fields=CHAINED_FIELDS,
        noun="record",
        head_position=head,
        head_hash=state["chain_hash"] if state else GENESIS_HASH,
        prefix_expired=lambda first: at_retention_edge(
            first["received_at"], retention_days=settings.retention_days, now=now
        ),
    )
    check = replace(check, machine_id=machine_id)
    if state is None or state.get("audit_compact") is None:
        return check  # history from before the audit logs: the chain is all there is
    log = await check_log(
        scope=scope,
        log=LogKey(machine.org_id, machine.id),
        records=records,
        position_field="chain_position",
        hashed_fields=CHAINED_FIELDS,
        start=records[0]["chain_position"] - 1 if records else head,
        settings=settings,
    )
    return merged(check, log)
