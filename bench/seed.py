"""Fast bulk seeding for the analytics benchmark.

Produces exactly the documents ingest would (transactions with audit-chain links computed by
the ingest code itself, machine inventory state, hourly and daily summaries from the same
increment function) but writes them with `insert_many` instead of one transaction per batch.
Idempotency records (`ingest_batches`) are not written: no query reads them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from config import Settings
from models.ledger import MachineInventory, Transaction, TransactionType
from models.organization import utcnow
from models.summary_store import collection, summary_document, summary_increments
from resolvers.cash import CashCount
from resolvers.ledger.ingest.ledger_update import apply_records
from resolvers.ledger.ingest.records import RecordInput, validate_records

NOTES = [500, 1000, 2000, 5000]
COINS = [100, 200]
# Shops are busier by day: weight of each local hour (Europe/Berlin ~ UTC+1).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 12, 12, 12, 12, 12, 12, 12, 10, 8, 4, 2, 1, 1, 1]
BATCH = 1000
INSERT_CHUNK = 5000


def records_for(rng: random.Random, count: int, *, now: datetime, days: int) -> list[RecordInput]:
    """`count` plausible records over the last `days` days, in time order, seq 1..count."""
    start = now - timedelta(days=days)
    hours = days * 24
    picks = sorted(
        start + timedelta(hours=h, seconds=rng.randrange(3600))
        for h in rng.choices(
            range(hours), weights=[HOUR_WEIGHTS[(h + 1) % 24] for h in range(hours)], k=count
        )
    )
    records = []
    for seq, at in enumerate(picks, start=1):
        roll = rng.random()
        if roll < 0.6:
            type_ = TransactionType.DEPOSIT
        elif roll < 0.95:
            type_ = TransactionType.WITHDRAWAL
        elif roll < 0.975:
            type_ = TransactionType.COLLECTION
        else:
            type_ = TransactionType.REPLENISHMENT
        lines = [
            CashCount(denomination=d, count=rng.randint(1, 5))
            for d in rng.sample(NOTES, rng.randint(1, 2)) + rng.sample(COINS, rng.randint(0, 1))
        ]
        records.append(
            RecordInput(seq=seq, type=type_, occurred_at=at, currency="EUR", lines=lines)
        )
    return records


async def _insert(collection: Any, docs: Iterable[dict[str, Any]]) -> int:
    chunk: list[dict[str, Any]] = []
    n = 0
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= INSERT_CHUNK:
            await collection.insert_many(chunk, ordered=False)
            n += len(chunk)
            chunk = []
    if chunk:
        await collection.insert_many(chunk, ordered=False)
        n += len(chunk)
    return n


async def seed_machine(machine: Any, records: list[RecordInput], *, timezone: str) -> None:
    """Apply `records` to the machine in ingest batches and write the resulting documents."""
    inventory = MachineInventory.get_pymongo_collection()
    state = await inventory.find_one({"_id": machine.id})
    assert state is not None
    now = utcnow()
    docs: list[dict[str, Any]] = []
    for i in range(0, len(records), BATCH):
        outcome = validate_records(
            records[i : i + BATCH],
            machine_currency=machine.currency,
            now=now,
            max_future_skew=timedelta(days=1),
        )
        assert not outcome.rejected, outcome.rejected[:3]
        update = apply_records(
            state,
            outcome.valid,
            machine={
                "org_id": machine.org_id,
                "shop_id": machine.shop_id,
                "machine_id": machine.id,
            },
            batch_id=ObjectId(),
            received_at=now,
            max_seq_ranges=Settings().max_seq_ranges,
        )
        docs += update.documents
        state = update.state
    await _insert(Transaction.get_pymongo_collection(), docs)
    for grain, incs in summary_increments(docs, timezone=timezone).items():
        summaries = (
            summary_document(grain, key, inc, timezone=timezone) for key, inc in incs.items()
        )
        await _insert(collection(grain), summaries)
    await inventory.replace_one({"_id": machine.id}, {k: v for k, v in state.items() if k != "_id"})
