"""The ingest mutation's inputs and payload."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext

from graph.scalars import Long
from graph.types.common import UserErrorType, user_errors
from graph.types.fleet import CashKind
from graph.types.ledger import TransactionTypeEnum
from models.currencies import CashKind as ModelCashKind
from models.ledger import TransactionType
from resolvers.ingest.records import LineInput, RecordInput, RejectionCode
from resolvers.ingest.result import IngestResult

RejectionCodeEnum = strawberry.enum(RejectionCode, name="RejectionCode")


@strawberry.input
class CashLineInput:
    # Long, not Int: an out-of-range value is then rejected with its record, not with the batch.
    denomination: Long = strawberry.field(description="Face value in minor units.")
    count: Long = strawberry.field(
        description="Pieces: positive, except for ADJUSTMENT where the sign is the direction "
        "(at most 100,000 per line)."
    )
    kind: CashKind | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Needed only where a value is both note and coin (USD 100)."
    )


@strawberry.input
class TransactionInput:
    seq: Long = strawberry.field(description="Per-machine sequence number from the local system.")
    type: TransactionTypeEnum  # type: ignore[valid-type]
    occurred_at: datetime
    currency: str
    lines: list[CashLineInput]
    amount: Long | None = strawberry.field(
        default=None, description="Optional; must equal the sum of the lines when given."
    )
    reference: str | None = None
    operator_id: str | None = None

    def to_record(self) -> RecordInput:
        return RecordInput(
            seq=self.seq,
            type=self.type,
            occurred_at=self.occurred_at,
            currency=self.currency,
            lines=[
                LineInput(
                    denomination=ln.denomination,
                    count=ln.count,
                    kind=ln.kind,
                )
                for ln in self.lines
            ],
            amount=self.amount,
            reference=self.reference,
            operator_id=self.operator_id,
        )


def _record_from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> RecordInput:
    """Build the resolver's record straight from the coerced input (Strawberry `from_input`).

    graphql-core has already checked and coerced every field (types, enums, scalars) by the
    time this runs; Strawberry's generic per-field conversion of thousands of nested inputs
    per batch was the largest single cost of ingest (docs/performance.md).
    """
    return RecordInput(
        seq=value["seq"],
        type=TransactionType(value["type"]),
        occurred_at=value["occurredAt"],
        currency=value["currency"],
        lines=[
            LineInput(
                denomination=ln["denomination"],
                count=ln["count"],
                kind=ModelCashKind(ln["kind"]) if ln.get("kind") is not None else None,
            )
            for ln in value["lines"]
        ],
        amount=value.get("amount"),
        reference=value.get("reference"),
        operator_id=value.get("operatorId"),
    )


TransactionInput.__strawberry_definition__.from_input = _record_from_input


@strawberry.input
class IngestTransactionsInput:
    machine_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description="Unique per request attempt of the local system; reuse it on retries."
    )
    # Arrives as RecordInput values (see `_record_from_input`).
    transactions: list[TransactionInput] = strawberry.field(description="At most 1,000.")


@strawberry.type
class RejectedTransaction:
    index: int = strawberry.field(description="Position in the submitted list.")
    seq: Long | None
    code: RejectionCodeEnum  # type: ignore[valid-type]
    message: str


@strawberry.type
class SeqRange:
    from_: Long = strawberry.field(name="from")
    to: Long


@strawberry.type
class IngestTransactionsPayload:
    accepted: int
    duplicates: int = strawberry.field(description="Records already stored; not stored again.")
    rejected: list[RejectedTransaction]
    missing_seqs: list[SeqRange] = strawberry.field(
        description="Seqs the cloud has not seen, from the machine's firstSeq to the highest "
        "seen, oldest first; resend them."
    )
    missing_seqs_truncated: bool
    chain_position: Long | None
    replayed: bool = strawberry.field(
        description="True when this is the stored response of an earlier identical request."
    )
    user_errors: list[UserErrorType]

    @classmethod
    def from_result(cls, r: IngestResult) -> IngestTransactionsPayload:
        return cls(
            accepted=r.accepted,
            duplicates=r.duplicates,
            rejected=[
                RejectedTransaction(index=x.index, seq=x.seq, code=x.code, message=x.message)
                for x in r.rejected
            ],
            missing_seqs=[SeqRange(from_=lo, to=hi) for lo, hi in r.missing_seqs],
            missing_seqs_truncated=r.missing_seqs_truncated,
            chain_position=r.chain_position,
            replayed=r.replayed,
            user_errors=user_errors(r.user_errors),
        )
