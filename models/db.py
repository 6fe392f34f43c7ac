"""Database connection and start-up: Beanie initialisation, indexes, the retention TTL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from beanie import init_beanie
from prometheus_client import Counter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from models.alerts import (
    AlertForecast,
    AlertInstance,
    AlertRuleOverride,
    AlertSweep,
    Incident,
    PlannedCollection,
    Silence,
)
from models.audit import AuditCheckpoint, AuditLogHead, AuditSlot, AuditTreePage
from models.embedded import start_server
from models.health import MachineEventRecord, MachineTwin, TelemetryRecord
from models.identity import ApiKey, RefreshToken, Session, User
from models.ledger import IngestBatch, MachineInventory, Transaction
from models.machine import Machine
from models.organization import Organization, Shop
from models.rate_limit import ensure_rate_limit_indexes
from models.security_log import SecurityEvent
from models.summary import DailyDemand, DailySummary, HourlySummary, MonthlyFlow
from models.webhooks import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

DOCUMENT_MODELS = [
    Organization,
    Shop,
    Machine,
    User,
    ApiKey,
    Transaction,
    MachineInventory,
    IngestBatch,
    RefreshToken,
    Session,
    SecurityEvent,
    HourlySummary,
    DailySummary,
    MonthlyFlow,
    DailyDemand,
    AuditTreePage,
    AuditCheckpoint,
    AuditLogHead,
    AuditSlot,
    TelemetryRecord,
    MachineTwin,
    MachineEventRecord,
    AlertInstance,
    Incident,
    AlertRuleOverride,
    Silence,
    PlannedCollection,
    AlertForecast,
    AlertSweep,
    Webhook,
    WebhookDelivery,
]
RETENTION_INDEX_NAME = "retention_ttl"
TRANSACTION_RETRIES = Counter(
    "cashcc_db_transaction_retries",
    "Multi-document transactions run again after a transient error or an unknown commit.",
)
DEFAULT_MAX_CONCURRENT_TRANSACTIONS = 4
T = TypeVar("T")


@dataclass
class Database:
    """The connected client and database; one per process."""

    client: AsyncMongoClient
    db: AsyncDatabase
    max_concurrent_transactions: int = DEFAULT_MAX_CONCURRENT_TRANSACTIONS
    _transaction_slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def close(self) -> None:
        await self.client.close()

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `work(session)` in a multi-document transaction, retried on transient errors.

        `work` must be safe to run more than once: it may be re-run from the start when the
        server reports a TransientTransactionError or an unknown commit result.
        """
        # Back-pressure, not correctness: many concurrent snapshot transactions collapse the
        # database's throughput (20 machines at once: ~12x fewer transactions/s on the embedded
        # server, docs/performance.md), so each process runs a few at a time and queues the rest.
        if self._transaction_slots is None:
            self._transaction_slots = asyncio.Semaphore(self.max_concurrent_transactions)
        attempts = 0

        async def counted(session: AsyncClientSession) -> T:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                TRANSACTION_RETRIES.inc()
            return await work(session)

        async with self._transaction_slots, self.client.start_session() as session:
            return await session.with_transaction(
                counted,
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
            )


_database: Database | None = None


def database_uri(mongodb_uri: str | None, embedded_dir: Path, var_dir: Path) -> str:
    """`mongodb_uri`, or the embedded server's under `var_dir` (started on demand)."""
    if mongodb_uri:
        return mongodb_uri
    return start_server(embedded_dir, var_dir).uri


def get_database() -> Database:
    """The database initialised by `connect`; raises if the process has not connected."""
    if _database is None:
        raise RuntimeError("database not initialised: call models.db.connect() first")
    return _database


async def connect(
    uri: str,
    db_name: str,
    *,
    retention_days: int,
    max_concurrent_transactions: int = DEFAULT_MAX_CONCURRENT_TRANSACTIONS,
) -> Database:
    """Connect, initialise Beanie and make sure every index (including the TTL) exists.

    `max_concurrent_transactions` bounds the multi-document transactions this process runs
    at once (`in_transaction` queues the others)."""
    global _database
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True, uuidRepresentation="standard")
    db = client[db_name]
    await drop_legacy_indexes(db)
    await init_beanie(database=db, document_models=DOCUMENT_MODELS)
    await ensure_retention_ttl(db, retention_days=retention_days)
    await ensure_rate_limit_indexes(db)
    _database = Database(
        client=client, db=db, max_concurrent_transactions=max_concurrent_transactions
    )
    return _database


async def disconnect() -> None:
    global _database
    if _database is not None:
        await _database.close()
        _database = None


# Indexes earlier versions declared that would now refuse valid data.
LEGACY_INDEXES = {
    # e-mails were globally unique, which told one tenant's admin that an address exists in
    # another tenant; they are unique per organization now
    User.Settings.name: ["email_1"],
}


async def drop_legacy_indexes(db: AsyncDatabase) -> None:
    for collection, names in LEGACY_INDEXES.items():
        existing = await db[collection].index_information()
        for name in names:
            if name in existing:
                await db[collection].drop_index(name)
                log.info("dropped legacy index %s.%s", collection, name)


async def ensure_retention_ttl(db: AsyncDatabase, *, retention_days: int) -> None:
    """Raw transactions expire `retention_days` after the server received them.

    The clock is `received_at`, not `occurred_at`: a batch replayed after a long outage is
    kept for the full period from its arrival, never deleted on arrival for being "old".
    Changing the setting adjusts the live index with `collMod` instead of rebuilding it.
    """
    seconds = retention_days * 86_400
    collection = db[Transaction.Settings.name]
    existing = await collection.index_information()
    current = existing.get(RETENTION_INDEX_NAME)
    if current is None:
        await collection.create_index(
            "received_at", name=RETENTION_INDEX_NAME, expireAfterSeconds=seconds
        )
    elif current.get("expireAfterSeconds") != seconds:
        await db.command(
            {
                "collMod": Transaction.Settings.name,
                "index": {"name": RETENTION_INDEX_NAME, "expireAfterSeconds": seconds},
            }
        )
        log.info("retention TTL changed to %s days", retention_days)
