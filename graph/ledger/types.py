"""Transactions, their history connection, audit-chain verification, ingest results.

`TransactionNode` reads a stored transaction document (models.ledger.TransactionDoc) by field
name; `ChainVerificationType` a resolvers.audit.chain.ChainCheck; the ingest payload the
fields of a resolvers.ledger.ingest.result.IngestResult.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.common import Connection, Payload
from graph.enums import CashKind, RejectionCode, TransactionFlag, TransactionType
from graph.scalars import Long


@strawberry.type(name="CashLine")
class CashLineType:
    kind: CashKind
    denomination: int = strawberry.field(description="Face value in minor units.")
    count: int = strawberry.field(description="Pieces; signed for ADJUSTMENT.")


@strawberry.type(name="Transaction")
class TransactionNode:
    id: strawberry.ID
    shop_id: strawberry.ID
    machine_id: strawberry.ID
    seq: Long
    type: TransactionType
    occurred_at: datetime = strawberry.field(description="As reported by the local system.")
    received_at: datetime = strawberry.field(description="Server clock at ingest.")
    currency: str
    lines: list[CashLineType]
    amount: Long = strawberry.field(description="Sum of the lines, in minor units.")
    reference: str | None
    operator_id: str | None
    flags: list[TransactionFlag]
    chain_position: Long
    prev_hash: str
    hash: str


TransactionConnection = Connection[TransactionNode]


@strawberry.type(name="ChainVerification")
class ChainVerificationType:
    machine_id: strawberry.ID
    ok: bool
    checked: int
    first_position: Long | None
    last_position: Long | None
    head_position: Long
    broken_position: Long | None = strawberry.field(
        description="The first position that is missing, modified or out of order."
    )
    reason: str | None
    checkpoint_size: Long | None = strawberry.field(
        description="The newest signed checkpoint the stored records were checked against."
    )
    checkpoints_checked: int = strawberry.field(
        description="Signed checkpoints whose signature verified and that the records match."
    )


@strawberry.type
class RejectedTransaction:
    index: int = strawberry.field(description="Position in the submitted list.")
    seq: Long | None
    code: RejectionCode
    message: str


@strawberry.type(description="Inclusive range of seqs, from a (first, last) pair.")
class SeqRange:
    @strawberry.field(name="from")
    def from_(self, root: strawberry.Parent[tuple[int, int]]) -> Long:
        return root[0]  # type: ignore[return-value]

    @strawberry.field
    def to(self, root: strawberry.Parent[tuple[int, int]]) -> Long:
        return root[1]  # type: ignore[return-value]


@strawberry.type
class IngestTransactionsPayload(Payload):
    accepted: int = 0
    duplicates: int = strawberry.field(
        default=0, description="Records already stored; not stored again."
    )
    rejected: list[RejectedTransaction] = strawberry.field(default_factory=list)
    missing_seqs: list[SeqRange] = strawberry.field(
        default_factory=list,
        description="Seqs the cloud has not seen, from the machine's firstSeq to the highest "
        "seen, oldest first; resend them.",
    )
    missing_seqs_truncated: bool = False
    chain_position: Long | None = None
    replayed: bool = strawberry.field(
        default=False,
        description="True when this is the stored response of an earlier identical request.",
    )
