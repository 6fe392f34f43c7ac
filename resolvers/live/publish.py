"""Publishing live events after a write has committed.

Publishing is best effort by design: the write is already durable, so a fan-out failure is
logged and never turns a committed ingest into an error (subscribers detect the hole from the
per-machine `seq` and, after a backend outage, from the GAP envelope).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from infra.live.envelope import Envelope, EventType, new_envelope
from infra.live.hub import get_hub
from models.machine import Machine
from resolvers.fleet.inventory import MachineInventoryView, machine_view

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


def inventory_payload(view: MachineInventoryView) -> dict[str, Any]:
    """A machine's inventory as the live view carries it: the fields of the inventory view
    (resolvers.fleet.inventory) under the same names, JSON-encodable, so the GraphQL types
    that read the view for queries read this for events."""
    return {
        "currency": view.currency,
        "total_value": view.total_value,
        "total_pieces": view.total_pieces,
        "denominations": [
            {
                "kind": s.kind.value,
                "denomination": s.denomination,
                "count": s.count,
                "capacity": s.capacity,
                "near_empty": s.near_empty,
                "near_full": s.near_full,
                "status": s.status.value,
                "value": s.value,
            }
            for s in view.slots
        ],
    }


def ingest_envelopes(batch: CommittedBatch) -> list[Envelope]:
    """TRANSACTIONS_INGESTED then INVENTORY_CHANGED for one committed batch."""
    machine = batch.machine
    view = machine_view(machine, batch.state)
    ids = {
        "organization_id": str(machine.org_id),
        "shop_id": str(machine.shop_id),
        "machine_id": str(machine.id),
        "sequence": batch.state["chain_position"],
    }
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for doc in batch.documents:
        counts[doc["type"]] += 1
        amounts[doc["type"]] += doc["amount"]
    summary = {
        "batch_id": str(batch.batch_id),
        "accepted": len(batch.documents),
        "chain_from": batch.documents[0]["chain_position"],
        "chain_to": batch.documents[-1]["chain_position"],
        "first_seq": min(d["seq"] for d in batch.documents),
        "last_seq": max(d["seq"] for d in batch.documents),
        "flagged": sum(1 for d in batch.documents if d.get("flags")),
        "currency": view.currency,
        "by_type": [{"type": t, "count": counts[t], "amount": amounts[t]} for t in sorted(counts)],
        "inventory_value": view.total_value,
        "inventory_pieces": view.total_pieces,
    }
    return [
        new_envelope(EventType.TRANSACTIONS_INGESTED, payload=summary, **ids),
        new_envelope(EventType.INVENTORY_CHANGED, payload=inventory_payload(view), **ids),
    ]


async def _publish(envelopes: list[Envelope]) -> None:
    hub = get_hub()
    if hub is None:
        return
    for env in envelopes:
        try:
            await hub.publish(env)
        except Exception:
            log.exception(
                "live: could not publish %s %s for org %s",
                env.type,
                env.event_id,
                env.organization_id,
            )


async def publish_ingest(batch: CommittedBatch | None) -> None:
    """Publish the events of a committed ingest; no-op for replays and empty batches."""
    if batch is None or not batch.documents:
        return
    await _publish(ingest_envelopes(batch))


def machine_event_payload(kind: str, number: int, at: datetime, detail: dict[str, Any]) -> dict:
    """A recorded machine event as the live view carries it: `kind`, `number` (per machine),
    `at` (ISO-8601) and the kind's detail under its own key (`connectivity_changed` ...), the
    names the GraphQL event type reads."""
    return {"kind": kind, "number": number, "at": at.isoformat(), kind.lower(): detail}


async def publish_machine_events(documents: list[dict[str, Any]]) -> None:
    """Publish recorded machine events (models.health.MachineEventRecord documents), after
    the transaction that recorded them committed."""
    await _publish(
        [
            new_envelope(
                EventType.MACHINE_EVENT,
                organization_id=str(doc["org_id"]),
                shop_id=str(doc["shop_id"]),
                machine_id=str(doc["machine_id"]),
                sequence=doc["number"],
                payload=machine_event_payload(
                    doc["kind"], doc["number"], doc["at"], _jsonable(doc["detail"])
                ),
            )
            for doc in documents
        ]
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
