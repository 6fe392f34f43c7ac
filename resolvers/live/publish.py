"""Publishing live events after a write has committed.

Publishing is best effort by design: the write is already durable, so a fan-out failure is
logged and never turns a committed ingest into an error (subscribers detect the hole from the
per-machine `seq` and, after a backend outage, from the GAP envelope).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from models.machine import Machine
from resolvers.inventory import machine_view
from resolvers.live.envelope import Envelope, EventType, new_envelope
from resolvers.live.hub import get_hub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommittedBatch:
    """What one ingest transaction committed: the new transaction documents (in chain order)
    and the machine's state after them."""

    machine: Machine
    documents: list[dict[str, Any]]
    state: dict[str, Any]

    @property
    def batch_id(self) -> ObjectId:
        return self.documents[0]["batch_id"]


def ingest_envelopes(batch: CommittedBatch) -> list[Envelope]:
    """TRANSACTIONS_INGESTED then INVENTORY_CHANGED for one committed batch."""
    machine = batch.machine
    view = machine_view(machine, batch.state)
    ids = {"org": str(machine.org_id), "shop": str(machine.shop_id), "machine": str(machine.id)}
    seq = batch.state["chain_position"]
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for doc in batch.documents:
        counts[doc["type"]] += 1
        amounts[doc["type"]] += doc["amount"]
    summary = {
        "batchId": str(batch.batch_id),
        "accepted": len(batch.documents),
        "chainFrom": batch.documents[0]["chain_position"],
        "chainTo": batch.documents[-1]["chain_position"],
        "firstSeq": min(d["seq"] for d in batch.documents),
        "lastSeq": max(d["seq"] for d in batch.documents),
        "flagged": sum(1 for d in batch.documents if d.get("flags")),
        "currency": view.currency,
        "byType": [{"type": t, "count": counts[t], "amount": amounts[t]} for t in sorted(counts)],
        "inventoryValue": view.total_value,
        "inventoryPieces": view.total_pieces,
    }
    inventory = {
        "currency": view.currency,
        "totalValue": view.total_value,
        "totalPieces": view.total_pieces,
        "chainPosition": view.chain_position,
        "updatedAt": view.updated_at.isoformat() if view.updated_at else None,
        "denominations": [
            {
                "kind": s.kind.value,
                "denomination": s.denomination,
                "count": s.count,
                "capacity": s.limits.capacity,
                "nearEmpty": s.limits.near_empty,
                "nearFull": s.limits.near_full,
                "status": s.status.value,
            }
            for s in view.slots
        ],
    }
    return [
        new_envelope(EventType.TRANSACTIONS_INGESTED, seq=seq, payload=summary, **ids),
        new_envelope(EventType.INVENTORY_CHANGED, seq=seq, payload=inventory, **ids),
    ]


async def _publish(envelopes: list[Envelope]) -> None:
    hub = get_hub()
    if hub is None:
        return
    for env in envelopes:
        try:
            await hub.publish(env)
        except Exception:
            log.exception("live: could not publish %s %s for org %s", env.type, env.id, env.org)


async def publish_ingest(batch: CommittedBatch | None) -> None:
    """Publish the events of a committed ingest; no-op for replays and empty batches."""
    if batch is None or not batch.documents:
        return
    await _publish(ingest_envelopes(batch))


async def publish_machine_event(
    *,
    org_id: ObjectId,
    shop_id: ObjectId,
    machine_id: ObjectId,
    kind: str,
    data: dict[str, Any],
    seq: int | None = None,
) -> None:
    """Publish a generic machine event (alerts, status changes) after its write committed.

    `kind` is a short upper-case name the client switches on; `data` must be JSON-encodable.
    """
    env = new_envelope(
        EventType.MACHINE_EVENT,
        org=str(org_id),
        shop=str(shop_id),
        machine=str(machine_id),
        seq=seq,
        payload={"kind": kind, "data": data},
    )
    await _publish([env])
