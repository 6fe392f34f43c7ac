"""Inputs of the ledger: the ingest batch and the history filter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext

from graph.enums import CashKind, TransactionType
from graph.framework import build_input_with
from graph.scalars import Long
from resolvers.cash import CashCount
from resolvers.ledger.ingest.records import RecordInput


@strawberry.input
class CashLineInput:
    # Long, not Int: an out-of-range value is then rejected with its record, not with the batch.
    denomination: Long = strawberry.field(description="Face value in minor units.")
    count: Long = strawberry.field(
        description="Pieces: positive, except for ADJUSTMENT where the sign is the direction "
        "(at most 100,000 per line)."
    )
    kind: CashKind | None = strawberry.field(
        default=None, description="Needed only where a value is both note and coin (USD 100)."
    )


@strawberry.input
class TransactionInput:
    seq: Long = strawberry.field(description="Per-machine sequence number from the local system.")
    type: TransactionType
    occurred_at: datetime
    currency: str
    lines: list[CashLineInput]
    amount: Long | None = strawberry.field(
        default=None, description="Optional; must equal the sum of the lines when given."
    )
    reference: str | None = None
    operator_id: str | None = None


def cash_counts(items: list[Mapping[str, Any]]) -> list[CashCount]:
    """Coerced cash counts (a transaction's `lines`, telemetry's `pieces` and
    `denominations`) as the resolvers take them."""
    return [
        CashCount(
            denomination=item["denomination"],
            count=item["count"],
            kind=CashKind(item["kind"]) if item.get("kind") is not None else None,
        )
        for item in items
    ]


def record_input(cls: type, value: Mapping[str, Any], context: InputContext) -> RecordInput:
    """The resolver's record straight from the coerced input: graphql-core has already checked
    and coerced every field (types, enums, scalars) by the time this runs."""
    return RecordInput(
        seq=value["seq"],
        type=TransactionType(value["type"]),
        occurred_at=value["occurredAt"],
        currency=value["currency"],
        lines=cash_counts(value["lines"]),
        amount=value.get("amount"),
        reference=value.get("reference"),
        operator_id=value.get("operatorId"),
    )


build_input_with(TransactionInput, record_input)


@strawberry.input
class IngestTransactionsInput:
    machine_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description="Unique per request attempt of the local system; reuse it on retries."
    )
    # Arrives as RecordInput values (see `record_input`).
    transactions: list[TransactionInput] = strawberry.field(description="At most 1,000.")


@strawberry.input
class TransactionFilterInput:
    shop_ids: list[strawberry.ID] | None = None
    machine_ids: list[strawberry.ID] | None = None
    types: list[TransactionType] | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="occurredAt >= from"
    )
    to: datetime | None = strawberry.field(default=None, description="occurredAt < to")
