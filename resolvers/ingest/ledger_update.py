"""Applying validated records to a machine's state: chain links, inventory, seen seqs (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from models.ledger import TransactionFlag
from resolvers.audit_chain import link_hash
from resolvers.ingest import seq_ranges
from resolvers.ingest.records import ValidRecord


@dataclass
class LedgerUpdate:
    """New transaction documents and the machine state after applying them."""

    documents: list[dict[str, Any]]
    state: dict[str, Any]


def split_seen(
    state: dict[str, Any], records: list[ValidRecord]
) -> tuple[list[ValidRecord], list[ValidRecord]]:
    """(records with unseen seqs, records whose seq the machine already has)."""
    seen = state["seen_seqs"]
    fresh, known = [], []
    for rec in records:
        (known if seq_ranges.contains(seen, rec.seq) else fresh).append(rec)
    return fresh, known


def apply_records(
    state: dict[str, Any],
    records: list[ValidRecord],
    *,
    machine: dict[str, ObjectId],
    batch_id: ObjectId,
    received_at: datetime,
) -> LedgerUpdate:
    """Chain, count and record `records` (in batch order) on top of `state`.

    Counts may go below zero: the record is kept and flagged NEGATIVE_INVENTORY for
    reconciliation, because the cash movement happened whatever the cloud believed.
    """
    counts = dict(state["counts"])
    position = state["chain_position"]
    head = state["chain_hash"]
    last_occurred = state.get("last_occurred_at")
    documents: list[dict[str, Any]] = []
    for rec in records:
        flags: list[str] = []
        for slot, delta in rec.deltas.items():
            new_count = counts.get(slot, 0) + delta
            if delta < 0 and new_count < 0:
                flags.append(TransactionFlag.NEGATIVE_INVENTORY.value)
            counts[slot] = new_count
        position += 1
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            "org_id": machine["org_id"],
            "shop_id": machine["shop_id"],
            "machine_id": machine["machine_id"],
            "seq": rec.seq,
            "type": rec.type.value,
            "occurred_at": rec.occurred_at,
            "received_at": received_at,
            "currency": rec.currency,
            "lines": rec.lines,
            "amount": rec.amount,
            "reference": rec.reference,
            "operator_id": rec.operator_id,
            "flags": sorted(set(flags)),
            "batch_id": batch_id,
            "content_hash": rec.content_hash,
            "chain_position": position,
            "prev_hash": head,
        }
        doc["hash"] = link_hash(doc)
        head = doc["hash"]
        documents.append(doc)
        if last_occurred is None or rec.occurred_at > last_occurred:
            last_occurred = rec.occurred_at
    new_state = {
        **state,
        "counts": counts,
        "seen_seqs": seq_ranges.merged(state["seen_seqs"], (r.seq for r in records)),
        "chain_position": position,
        "chain_hash": head,
        "transaction_count": state["transaction_count"] + len(records),
        "last_occurred_at": last_occurred,
        "updated_at": received_at,
        "version": state["version"] + 1,
    }
    return LedgerUpdate(documents=documents, state=new_state)
