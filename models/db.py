"""Database connection: the client, Beanie, the schema check, and transactions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pymongo
from beanie import init_beanie
from prometheus_client import Counter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from models.embedded import start_server
from models.inflight import InflightSessions
from models.schema import (
    DOCUMENT_MODELS,
    SchemaBehind,
    migrate_schema,
    schema_problems,
)

log = logging.getLogger(__name__)
ABANDONED_KILL_SECONDS = 5.0

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
    # The limit of one transaction with its retries (seconds; None: the client's own).
    transaction_timeout: float | None = None
    # This process's sessions, recorded for successors (None: not recorded).
    inflight: InflightSessions | None = None
    _transaction_slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def close(self) -> None:
        if self.inflight is not None:
            await self.inflight.stop()
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

        async with (
            self._transaction_slots,
            self.client.start_session() as session,
            self.inflight.running(session) if self.inflight else contextlib.nullcontext(),
        ):
            limit = self.transaction_timeout
            try:
                with pymongo.timeout(limit) if limit is not None else contextlib.nullcontext():
                    return await session.with_transaction(
                        counted,
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                    )
            except (PyMongoError, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) or exc.timeout:
                    await self._end_abandoned(session)
                raise

    async def _end_abandoned(self, session: AsyncClientSession) -> None:
        """End `session` on the server after its transaction ran out of time or was cancelled.

        The driver then marks the transaction aborted without reaching the server (no time is
        left to send `abortTransaction`), so the transaction stays open there, holding its
        documents, until the server's 60 s lifetime: other transactions on them conflict and
        plain writes to them block (measured on the embedded server: a plain update of such a
        document still waited after 3 s). `killSessions` aborts it at once."""
        with contextlib.suppress(PyMongoError), pymongo.timeout(ABANDONED_KILL_SECONDS):
            await self.client.admin.command("killSessions", [session.session_id])


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
    migrate: bool = False,
    timeout_seconds: float | None = None,
) -> Database:
    """Connect and initialise Beanie, without building any index.

    Raises SchemaBehind (and stays disconnected) when the database lacks what this version
    needs or holds another retention period; `migrate=True` runs the migration first (the
    embedded default, tests, benchmarks: `cashcc migrate` everywhere else).
    `max_concurrent_transactions` bounds the multi-document transactions this process runs
    at once (`in_transaction` queues the others). `timeout_seconds` bounds every operation
    (pymongo's `timeoutMS`) and every transaction with its retries. The process records its
    transaction sessions and ends those of dead processes (`models.inflight`)."""
    global _database
    timeout_ms = None if timeout_seconds is None else int(timeout_seconds * 1000)
    client: AsyncMongoClient = AsyncMongoClient(
        uri, tz_aware=True, uuidRepresentation="standard", timeoutMS=timeout_ms
    )
    db = client[db_name]
    try:
        if migrate:
            await migrate_schema(db, retention_days=retention_days)
        problems = await schema_problems(db, retention_days=retention_days)
        if problems:
            raise SchemaBehind(problems)
        await init_beanie(database=db, document_models=DOCUMENT_MODELS, skip_indexes=True)
        inflight = InflightSessions(db)
    except BaseException:
        await client.close()
        raise
    inflight.start()
    _database = Database(
        client=client,
        db=db,
        max_concurrent_transactions=max_concurrent_transactions,
        transaction_timeout=timeout_seconds,
        inflight=inflight,
    )
    return _database


async def migrate_database(uri: str, db_name: str, *, retention_days: int) -> list[str]:
    """`cashcc migrate`: bring the database at `uri` to this version's schema (idempotent);
    returns what changed."""
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True, uuidRepresentation="standard")
    try:
        return await migrate_schema(client[db_name], retention_days=retention_days)
    finally:
        await client.close()


async def disconnect() -> None:
    global _database
    if _database is not None:
        await _database.close()
        _database = None
