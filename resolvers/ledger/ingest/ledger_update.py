"""Applying validated records to a machine's state: chain links, inventory, seen seqs (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from models.ledger import Transaction, TransactionFlag
from models.machine import MAX_SLOT_PIECES
from resolvers.audit.chain import link_hash
from resolvers.audit.logs import extend_log
from resolvers.audit.merkle import NodeAddr
from resolvers.ledger.ingest import seq_ranges
from resolvers.ledger.ingest.records import Rejection, RejectionCode, ValidRecord


@dataclass
class LedgerUpdate:
    """New transaction documents, the machine state after applying them, the records
    refused because they would take a count out of range (nothing of them is applied), and
    the Merkle log nodes the new documents complete (stored with them)."""

    documents: list[dict[str, Any]]
    state: dict[str, Any]
    rejected: list[Rejection]
    tree_nodes: list[tuple[NodeAddr, bytes]]


def split_seen(
    state: dict[str, Any], records: list[ValidRecord]
) -> tuple[list[ValidRecord], list[ValidRecord], list[ValidRecord]]:
    """(records with unseen seqs, records whose seq the machine already has, records below
    the summarised floor: seen or not, only the stored transactions can tell)."""
    seen, floor = state["seen_seqs"], state.get("seq_floor", 0)
    fresh, known, unsure = [], [], []
    for rec in records:
        if seq_ranges.contains(seen, rec.seq):
            known.append(rec)
        elif rec.seq < floor:
            unsure.append(rec)
        else:
            fresh.append(rec)
    return fresh, known, unsure


def apply_records(
    state: dict[str, Any],
    records: list[ValidRecord],
    *,
    machine: dict[str, ObjectId],
    batch_id: ObjectId,
    received_at: datetime,
    max_seq_ranges: int,
) -> LedgerUpdate:
    """Chain, count and record `records` (in batch order) on top of `state`, and append them
    to the machine's Merkle log (its compact range in the state; the nodes they complete).

    Counts may go below zero: the record is kept and flagged NEGATIVE_INVENTORY for
    reconciliation, because the cash movement happened whatever the cloud believed. A record
    that would take a count beyond MAX_SLOT_PIECES either way is refused and not applied.
    """
    counts = dict(state["counts"])
    position = state["chain_position"]
    head = state["chain_hash"]
    last_occurred = state.get("last_occurred_at")
    documents: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    applied: list[ValidRecord] = []
    for rec in records:
        moved = {slot: counts.get(slot, 0) + delta for slot, delta in rec.deltas.items()}
        beyond = [slot for slot, count in moved.items() if abs(count) > MAX_SLOT_PIECES]
        if beyond:
            rejected.append(
                Rejection(
                    index=rec.index,
                    seq=rec.seq,
                    code=RejectionCode.INVENTORY_OUT_OF_RANGE,
                    message=f"{beyond[0]} would hold {moved[beyond[0]]} pieces; no machine "
                    f"holds more than {MAX_SLOT_PIECES}",
                )
            )
            continue
        flags = [
            TransactionFlag.NEGATIVE_INVENTORY.value
            for slot, count in moved.items()
            if rec.deltas[slot] < 0 and count < 0
        ]
        counts.update(moved)
        applied.append(rec)
        position += 1
        doc = Transaction.document(
            _id=ObjectId(),
            org_id=machine["org_id"],
            shop_id=machine["shop_id"],
            machine_id=machine["machine_id"],
            seq=rec.seq,
            type=rec.type.value,
            occurred_at=rec.occurred_at,
            received_at=received_at,
            currency=rec.currency,
            lines=rec.lines,
            amount=rec.amount,
            reference=rec.reference,
            operator_id=rec.operator_id,
            flags=sorted(set(flags)),
            batch_id=batch_id,
            content_hash=rec.content_hash,
            chain_position=position,
            prev_hash=head,
            hash="",
        )
        doc["hash"] = link_hash(doc)
        head = doc["hash"]
        documents.append(doc)
        if last_occurred is None or rec.occurred_at > last_occurred:
            last_occurred = rec.occurred_at
    seen, floor, dropped = seq_ranges.bounded(
        seq_ranges.merged(state["seen_seqs"], (r.seq for r in applied)),
        floor=state.get("seq_floor", 0),
        max_ranges=max_seq_ranges,
    )
    tree = extend_log(
        state.get("audit_compact"), state["chain_position"], [d["hash"] for d in documents]
    )
    new_state = {
        **state,
        "counts": counts,
        "seen_seqs": seen,
        "seq_floor": floor,
        "summarized_gaps": state.get("summarized_gaps", 0) + dropped,
        "chain_position": position,
        "chain_hash": head,
        "transaction_count": state["transaction_count"] + len(applied),
        "last_occurred_at": last_occurred,
        "updated_at": received_at,
        "version": state["version"] + 1,
    }
    if tree is not None:
        new_state["audit_compact"] = tree.compact
    return LedgerUpdate(
        documents=documents,
        state=new_state,
        rejected=rejected,
        tree_nodes=tree.nodes if tree is not None else [],
    )
