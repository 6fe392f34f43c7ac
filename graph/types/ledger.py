"""Transactions, their history connection, and audit-chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graph.scalars import Long
from graph.types.common import PageInfo
from graph.types.fleet import CashKind
from models.currencies import CashKind as ModelCashKind
from models.ledger import TransactionFlag, TransactionType
from resolvers.audit_chain import ChainVerification
from resolvers.history import TransactionPage

TransactionTypeEnum = strawberry.enum(TransactionType, name="TransactionType")
TransactionFlagEnum = strawberry.enum(TransactionFlag, name="TransactionFlag")


@strawberry.type(name="CashLine")
class CashLineType:
    kind: CashKind  # type: ignore[valid-type]
    denomination: int = strawberry.field(description="Face value in minor units.")
    count: int = strawberry.field(description="Pieces; signed for ADJUSTMENT.")


@strawberry.type(name="Transaction")
class TransactionType_:
    id: strawberry.ID
    shop_id: strawberry.ID
    machine_id: strawberry.ID
    seq: Long
    type: TransactionTypeEnum  # type: ignore[valid-type]
    occurred_at: datetime = strawberry.field(description="As reported by the local system.")
    received_at: datetime = strawberry.field(description="Server clock at ingest.")
    currency: str
    lines: list[CashLineType]
    amount: Long = strawberry.field(description="Sum of the lines, in minor units.")
    reference: str | None
    operator_id: str | None
    flags: list[TransactionFlagEnum]  # type: ignore[valid-type]
    chain_position: Long
    prev_hash: str
    hash: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TransactionType_:
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            shop_id=strawberry.ID(str(doc["shop_id"])),
            machine_id=strawberry.ID(str(doc["machine_id"])),
            seq=doc["seq"],
            type=TransactionType(doc["type"]),
            occurred_at=doc["occurred_at"],
            received_at=doc["received_at"],
            currency=doc["currency"],
            lines=[
                CashLineType(
                    kind=ModelCashKind(ln["kind"]),
                    denomination=ln["denomination"],
                    count=ln["count"],
                )
                for ln in doc["lines"]
            ],
            amount=doc["amount"],
            reference=doc.get("reference"),
            operator_id=doc.get("operator_id"),
            flags=[TransactionFlag(f) for f in doc.get("flags", [])],
            chain_position=doc["chain_position"],
            prev_hash=doc["prev_hash"],
            hash=doc["hash"],
        )


@strawberry.type
class TransactionEdge:
    cursor: str
    node: TransactionType_


@strawberry.type
class TransactionConnection:
    edges: list[TransactionEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: TransactionPage) -> TransactionConnection:
        return cls(
            edges=[
                TransactionEdge(cursor=c, node=TransactionType_.from_doc(d)) for c, d in page.items
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.input
class TransactionFilterInput:
    shop_ids: list[strawberry.ID] | None = None
    machine_ids: list[strawberry.ID] | None = None
    types: list[TransactionTypeEnum] | None = None  # type: ignore[valid-type]
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="occurredAt >= from"
    )
    to: datetime | None = strawberry.field(default=None, description="occurredAt < to")


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

    @classmethod
    def from_result(cls, r: ChainVerification) -> ChainVerificationType:
        return cls(
            machine_id=strawberry.ID(str(r.machine_id)),
            ok=r.ok,
            checked=r.checked,
            first_position=r.first_position,
            last_position=r.last_position,
            head_position=r.head_position,
            broken_position=r.broken_position,
            reason=r.reason,
        )
