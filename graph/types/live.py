"""Live-view events (subscription payloads), translated from `resolvers.live` envelopes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from graph.scalars import Long
from graph.types.fleet import DenominationInventoryType
from graph.types.ledger import TransactionTypeEnum
from models.currencies import CashKind as ModelCashKind
from models.ledger import TransactionType
from resolvers.inventory import FillStatus
from resolvers.live.envelope import Envelope, EventType

LiveEventTypeEnum = strawberry.enum(
    EventType,
    name="LiveEventType",
    description="GAP: events may have been missed (for example during a fan-out outage); "
    "re-query the state you display.",
)


@strawberry.interface(
    name="LiveEvent",
    description=(
        "Envelope of every live event. `sequence` is the machine's audit-chain position after "
        "the change: a jump by more than the batch size means events were missed, so re-query."
    ),
)
class LiveEventInterface:
    version: int = strawberry.field(description="Envelope format version.")
    event_id: strawberry.ID
    type: LiveEventTypeEnum  # type: ignore[valid-type]
    organization_id: strawberry.ID
    shop_id: strawberry.ID | None = strawberry.field(description="Null only for GAP.")
    machine_id: strawberry.ID | None = strawberry.field(description="Null only for GAP.")
    sequence: Long | None
    published_at: datetime
    gap_reason: str | None = strawberry.field(description="Why events may be missing (GAP).")
    envelope: strawberry.Private[Envelope]


def _envelope_fields(env: Envelope) -> dict[str, Any]:
    return {
        "version": env.version,
        "event_id": strawberry.ID(env.id),
        "type": env.type,
        "organization_id": strawberry.ID(env.org),
        "shop_id": strawberry.ID(env.shop) if env.shop else None,
        "machine_id": strawberry.ID(env.machine) if env.machine else None,
        "sequence": env.seq,
        "published_at": env.published_at,
        "gap_reason": env.payload.get("reason") if env.type is EventType.GAP else None,
        "envelope": env,
    }


@strawberry.type(name="InventoryChangedEvent")
class InventoryChangedEvent(LiveEventInterface):
    currency: str | None
    total_value: Long | None
    total_pieces: Long | None
    denominations: list[DenominationInventoryType]

    @classmethod
    def from_envelope(cls, env: Envelope) -> InventoryChangedEvent:
        p = env.payload if env.type is EventType.INVENTORY_CHANGED else {}
        return cls(
            **_envelope_fields(env),
            currency=p.get("currency"),
            total_value=p.get("totalValue"),
            total_pieces=p.get("totalPieces"),
            denominations=[
                DenominationInventoryType(
                    kind=ModelCashKind(d["kind"]),
                    denomination=d["denomination"],
                    count=d["count"],
                    capacity=d["capacity"],
                    near_empty=d["nearEmpty"],
                    near_full=d["nearFull"],
                    status=FillStatus(d["status"]),
                    value=d["denomination"] * d["count"],
                )
                for d in p.get("denominations", [])
            ],
        )


@strawberry.type(name="TransactionTypeSummary")
class TransactionTypeSummaryType:
    type: TransactionTypeEnum  # type: ignore[valid-type]
    count: int
    amount: Long = strawberry.field(description="Sum of the amounts, in minor units.")


@strawberry.type(name="TransactionsIngestedEvent")
class TransactionsIngestedEvent(LiveEventInterface):
    batch_id: strawberry.ID | None
    accepted: int | None = strawberry.field(description="New transactions in the batch.")
    chain_from: Long | None
    chain_to: Long | None
    first_seq: Long | None
    last_seq: Long | None
    flagged: int | None = strawberry.field(description="Accepted records carrying flags.")
    currency: str | None
    by_type: list[TransactionTypeSummaryType]
    inventory_value: Long | None = strawberry.field(description="Machine's value afterwards.")
    inventory_pieces: Long | None

    @classmethod
    def from_envelope(cls, env: Envelope) -> TransactionsIngestedEvent:
        p = env.payload if env.type is EventType.TRANSACTIONS_INGESTED else {}
        return cls(
            **_envelope_fields(env),
            batch_id=strawberry.ID(p["batchId"]) if "batchId" in p else None,
            accepted=p.get("accepted"),
            chain_from=p.get("chainFrom"),
            chain_to=p.get("chainTo"),
            first_seq=p.get("firstSeq"),
            last_seq=p.get("lastSeq"),
            flagged=p.get("flagged"),
            currency=p.get("currency"),
            by_type=[
                TransactionTypeSummaryType(
                    type=TransactionType(t["type"]), count=t["count"], amount=t["amount"]
                )
                for t in p.get("byType", [])
            ],
            inventory_value=p.get("inventoryValue"),
            inventory_pieces=p.get("inventoryPieces"),
        )


@strawberry.type(name="MachineEvent")
class MachineEventType(LiveEventInterface):
    kind: str | None = strawberry.field(description="What happened (alert, status change ...).")
    data: JSON | None

    @classmethod
    def from_envelope(cls, env: Envelope) -> MachineEventType:
        p = env.payload if env.type is EventType.MACHINE_EVENT else {}
        return cls(**_envelope_fields(env), kind=p.get("kind"), data=p.get("data"))
