"""The cash ledger: transactions, per-machine inventory/chain state, and ingest batches.

The ingest hot path writes these collections with raw documents (see `models.ledger_store`);
the Beanie classes here define their shape and indexes and serve the read side.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from models.indexes import ascending, expiry

GENESIS_HASH = "0" * 64


class TransactionType(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    COLLECTION = "COLLECTION"
    REPLENISHMENT = "REPLENISHMENT"
    ADJUSTMENT = "ADJUSTMENT"


TRANSACTION_TYPES: tuple[str, ...] = tuple(t.value for t in TransactionType)
# How each type moves the cash a machine holds: +1 adds, -1 removes. ADJUSTMENT counts carry
# their own sign (+1 keeps it). The one definition: inventory, summaries, charts all use it.
FLOW_SIGN: dict[str, int] = {
    TransactionType.DEPOSIT: 1,
    TransactionType.REPLENISHMENT: 1,
    TransactionType.WITHDRAWAL: -1,
    TransactionType.COLLECTION: -1,
    TransactionType.ADJUSTMENT: 1,
}
# Customers' movements (demand), as opposed to the operators' interventions.
ORGANIC_TYPES: tuple[str, ...] = (TransactionType.DEPOSIT, TransactionType.WITHDRAWAL)


class TransactionFlag(StrEnum):
    NEGATIVE_INVENTORY = "NEGATIVE_INVENTORY"


class CashLine(BaseModel):
    kind: str
    denomination: int
    count: int


class Transaction(Document):
    """One cash movement reported by a machine's local system, with its audit-chain link.

    The one definition of a stored transaction: ingest writes raw documents built with
    `Transaction.document` (no per-record validation on the hot path), readers get the same
    keys (`_id` for `id`).
    """

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    seq: int
    type: TransactionType
    occurred_at: datetime
    received_at: datetime
    currency: str
    lines: list[CashLine]
    amount: int
    reference: str | None = None
    operator_id: str | None = None
    flags: list[TransactionFlag] = Field(default_factory=list)
    batch_id: PydanticObjectId
    content_hash: str
    chain_position: int
    prev_hash: str
    hash: str

    class Settings:
        name = "transactions"
        # Time indexes are ascending on purpose: MongoDB walks them backwards for newest-first
        # pages just as fast, and SecantusDB 0.7.0b3 drops the lower bound of a `$gte` range
        # on a descending index key (seen here), which would silently lose records.
        # The unique backstops (duplicates, forked chains) start with the shard key.
        indexes = [
            ascending("org_id", "machine_id", "seq", unique=True),
            ascending("org_id", "machine_id", "chain_position", unique=True),
            ascending("org_id", "shop_id", "occurred_at", "_id"),
            ascending("org_id", "machine_id", "occurred_at", "_id"),
            ascending("org_id", "occurred_at", "_id"),
        ]

    @classmethod
    def document(cls, **values: Any) -> dict[str, Any]:
        """A stored transaction as a raw dict; the keys must be exactly this model's fields."""
        if values.keys() != _TRANSACTION_KEYS:
            wrong = sorted(values.keys() ^ _TRANSACTION_KEYS)
            raise ValueError(f"not the fields of a transaction: {wrong}")
        return values


_TRANSACTION_KEYS = frozenset(Transaction.model_fields) - {"id", "revision_id"} | {"_id"}


class MachineInventory(Document):
    """Per-machine state changed atomically with every accepted batch.

    `counts` maps slot keys (`N500`, `C100`) to pieces in the machine. `seen_seqs` holds the
    sorted, merged ranges of sequence numbers ever accepted, so duplicates stay detectable
    after raw transactions expire and `missingSeqs` can be answered without a scan; at most
    `resolvers.ledger.ingest.seq_ranges.MAX_RANGES` of them, the older ones summarised below
    `seq_floor` (`summarized_gaps` counts the ranges dropped).
    `chain_position`/`chain_hash` are the head of the machine's audit chain and
    `audit_compact` the compact range of its Merkle log of `chain_position` leaves
    (`[[level, hex hash], ...]`, docs/audit.md; None for a state written before the logs
    existed); `version` guards the compare-and-set update that keeps concurrent batches from
    forking them.
    """

    id: PydanticObjectId = Field(alias="_id")  # type: ignore[assignment]
    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    currency: str
    counts: dict[str, int] = Field(default_factory=dict)
    seen_seqs: list[list[int]] = Field(default_factory=list)
    seq_floor: int = 0
    summarized_gaps: int = 0
    chain_position: int = 0
    chain_hash: str = GENESIS_HASH
    audit_compact: list[list[int | str]] | None = Field(default_factory=list)
    transaction_count: int = 0
    last_occurred_at: datetime | None = None
    updated_at: datetime | None = None
    # Freshness (resolvers/ledger/ingest/freshness.py): `[from, to, open_since]` per open
    # gap, oldest first, and the lags (seconds) of the most recent records.
    open_gaps: list[list[Any]] = Field(default_factory=list)
    recent_lags: list[float] = Field(default_factory=list)
    # Slots the machine has paid out at least once (its dispensable denominations).
    dispensed_slots: list[str] = Field(default_factory=list)
    # The newest record flagged NEGATIVE_INVENTORY: {"seq", "received_at"}.
    last_negative: dict[str, Any] | None = None
    version: int = 0

    class Settings:
        name = "machine_inventory"
        indexes = [
            ascending("org_id", "shop_id"),
            # Supports the shard key (models/sharding.py), and a scope filter over a list of
            # machines, `{org_id, _id: {$in: [...]}}`, uses it; without it SecantusDB scans
            # the collection (10x slower at 3,000 machines).
            ascending("org_id", "_id"),
        ]

    @classmethod
    def initial(
        cls,
        *,
        machine_id: PydanticObjectId,
        org_id: PydanticObjectId,
        shop_id: PydanticObjectId,
        currency: str,
        at: datetime,
    ) -> dict[str, Any]:
        """The state document of a machine that has never reported, as stored."""
        state = cls.model_construct(
            id=machine_id, org_id=org_id, shop_id=shop_id, currency=currency, updated_at=at
        )
        return state.model_dump(by_alias=True, exclude={"revision_id"})


class BatchStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class IngestBatch(Document):
    """Idempotency record of one ingest request, keyed by (machine, idempotency key).

    The stored `response` is replayed for retries with the same payload `fingerprint`.
    `owner`/`lease_until` let a retry take over a claim whose worker died mid-request.
    Expires through a TTL index on `expires_at`.
    """

    org_id: PydanticObjectId
    machine_id: PydanticObjectId
    idempotency_key: str
    fingerprint: str
    status: BatchStatus
    owner: str
    # The process that holds the claim (`models.inflight`): a dead one's claim is taken over.
    process: str | None = None
    lease_until: datetime
    response: dict[str, Any] | None = None
    created_at: datetime
    expires_at: datetime

    class Settings:
        name = "ingest_batches"
        indexes = [
            ascending("org_id", "machine_id", "idempotency_key", unique=True),
            expiry(),
        ]
