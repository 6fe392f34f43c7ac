"""The durable outbox of one machine: a SQLite database in WAL mode.

Life of a record:
    journal() -> pending -> open_batch() gives it a batch key (persisted *before* sending)
    -> complete_batch() after the cloud answered: acked (accepted or duplicate) or
    quarantined (rejected, with the cloud's code and message; kept for an operator).
Acked records stay in the archive until `purge_acked()` so a `missingSeqs` answer can bring
them back (`requeue_missing()`); they are never sent again otherwise.

Every state change is one SQLite transaction with `synchronous=FULL`, so a crash (power loss,
SIGKILL) at any point leaves either the old or the new state. A batch's key and membership are
written before the first send, so after a restart the same batch goes out under the same key
and the cloud answers from its idempotency store instead of applying it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'quarantined')),
    batch_key TEXT,
    journaled_at REAL NOT NULL,
    acked_at REAL,
    reject_code TEXT,
    reject_message TEXT
);
CREATE INDEX IF NOT EXISTS records_by_state ON records (state, batch_key, seq);
CREATE TABLE IF NOT EXISTS batches (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""


class OutboxError(RuntimeError):
    """The outbox cannot be used (locked by another process, or for another machine)."""


class CashLine(TypedDict):
    """One denomination of a transaction, as the ingest API takes it."""

    denomination: int
    count: int
    kind: NotRequired[str]


@dataclass(frozen=True)
class Batch:
    """Records that go out together under one idempotency key (seq order)."""

    key: str
    records: list[dict[str, Any]]
    attempts: int

    @property
    def seqs(self) -> list[int]:
        return [r["seq"] for r in self.records]


@dataclass(frozen=True)
class QuarantinedRecord:
    seq: int
    code: str
    message: str
    record: dict[str, Any]


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    in_batches: int
    acked: int
    quarantined: int
    next_seq: int


def _utc_iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


class Outbox:
    """The journal of one machine. One process at a time may open it (file lock)."""

    def __init__(self, path: str | Path, machine_id: str, *, first_seq: int = 1) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path.with_suffix(self.path.suffix + ".lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise OutboxError(f"outbox {self.path} is in use by another process") from exc
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        with self.transaction():
            stored = self._meta("machine_id")
            if stored is None:
                self._set_meta("machine_id", machine_id)
                self._set_meta("next_seq", str(first_seq))
        if stored is not None and stored != machine_id:
            self.close()
            raise OutboxError(f"outbox {self.path} belongs to machine {stored}")
        self.machine_id = machine_id

    def close(self) -> None:
        """Close the database and release the lock (what the OS does when a process dies)."""
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._db.close()
        if not self._lock_file.closed:
            self._lock_file.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One durable SQLite transaction on the outbox file (other journals of the same
        machine, like the telemetry queue, share the file, its lock and its durability)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def journal_many(self, transactions: Sequence[dict[str, Any]]) -> list[int]:
        """Durably record transactions (keys as `AgentClient.journal()` takes them) in one
        commit; returns their seqs, consecutive and in order. A malformed record is refused
        with ValueError before anything is written: it would block the queue forever."""
        for tx in transactions:
            check_shape(tx)
        now = time.time()
        with self.transaction() as db:
            seq = int(self._meta("next_seq") or 1)
            seqs = []
            for tx in transactions:
                record: dict[str, Any] = {
                    "seq": seq,
                    "type": tx["type"],
                    "occurredAt": _utc_iso(tx["occurred_at"]),
                    "currency": tx["currency"],
                    "lines": [dict(line) for line in tx["lines"]],
                }
                for src, dst in (
                    ("amount", "amount"),
                    ("reference", "reference"),
                    ("operator_id", "operatorId"),
                ):
                    if tx.get(src) is not None:
                        record[dst] = tx[src]
                db.execute(
                    "INSERT INTO records (seq, payload, state, journaled_at) "
                    "VALUES (?, ?, 'pending', ?)",
                    (seq, json.dumps(record, separators=(",", ":")), now),
                )
                seqs.append(seq)
                seq += 1
            self._set_meta("next_seq", str(seq))
        return seqs

    def open_batch(self, max_size: int) -> Batch | None:
        """The oldest unacknowledged batch, or a new one of up to `max_size` pending records
        (key and membership committed before this returns); None when nothing is pending."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT key, attempts FROM batches ORDER BY created_at, key LIMIT 1"
            ).fetchone()
            if row is None:
                seqs = [
                    r[0]
                    for r in db.execute(
                        "SELECT seq FROM records WHERE state = 'pending' AND batch_key IS NULL "
                        "ORDER BY seq LIMIT ?",
                        (max_size,),
                    )
                ]
                if not seqs:
                    return None
                key = f"{self.machine_id}-{uuid.uuid4().hex}"
                db.execute(
                    "INSERT INTO batches (key, created_at) VALUES (?, ?)", (key, time.time())
                )
                db.executemany(
                    "UPDATE records SET batch_key = ? WHERE seq = ?", [(key, s) for s in seqs]
                )
                row = (key, 0)
            key, attempts = row
            payloads = db.execute(
                "SELECT payload FROM records WHERE batch_key = ? ORDER BY seq", (key,)
            ).fetchall()
        return Batch(key=key, records=[json.loads(p[0]) for p in payloads], attempts=attempts)

    def note_attempt(self, key: str) -> None:
        """Count one more send attempt of a batch (for status and logs)."""
        with self.transaction() as db:
            db.execute("UPDATE batches SET attempts = attempts + 1 WHERE key = ?", (key,))

    def complete_batch(self, batch: Batch, rejected: dict[int, tuple[str, str]]) -> None:
        """Record the cloud's answer: records whose seq is in `rejected` (seq -> code,
        message) are quarantined, all others of the batch are acked."""
        now = time.time()
        with self.transaction() as db:
            for seq in batch.seqs:
                if seq in rejected:
                    code, message = rejected[seq]
                    db.execute(
                        "UPDATE records SET state = 'quarantined', batch_key = NULL, "
                        "reject_code = ?, reject_message = ? WHERE seq = ?",
                        (code, message, seq),
                    )
                else:
                    db.execute(
                        "UPDATE records SET state = 'acked', batch_key = NULL, acked_at = ? "
                        "WHERE seq = ?",
                        (now, seq),
                    )
            db.execute("DELETE FROM batches WHERE key = ?", (batch.key,))

    def dissolve_batch(self, key: str) -> None:
        """Put a batch's records back in the queue; they go out later under a new key."""
        with self.transaction() as db:
            db.execute("UPDATE records SET batch_key = NULL WHERE batch_key = ?", (key,))
            db.execute("DELETE FROM batches WHERE key = ?", (key,))

    def requeue_missing(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Acked records the cloud says it lacks (inclusive seq ranges) go back to pending;
        returns how many. Seqs not in the archive cannot be resent and are left alone."""
        count = 0
        with self.transaction() as db:
            for lo, hi in ranges:
                cur = db.execute(
                    "UPDATE records SET state = 'pending', acked_at = NULL "
                    "WHERE state = 'acked' AND seq BETWEEN ? AND ?",
                    (lo, hi),
                )
                count += cur.rowcount
        return count

    def purge_acked(self, older_than_seconds: float) -> int:
        """Forget acked records acknowledged more than `older_than_seconds` ago."""
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM records WHERE state = 'acked' AND acked_at < ?",
                (time.time() - older_than_seconds,),
            )
        return cur.rowcount

    def quarantined(self) -> list[QuarantinedRecord]:
        """Records the cloud rejected, with its code and message, oldest first."""
        rows = self._db.execute(
            "SELECT seq, reject_code, reject_message, payload FROM records "
            "WHERE state = 'quarantined' ORDER BY seq"
        ).fetchall()
        return [QuarantinedRecord(s, c, m, json.loads(p)) for s, c, m, p in rows]

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """Every record the outbox still holds as (state, record), in seq order."""
        rows = self._db.execute("SELECT state, payload FROM records ORDER BY seq").fetchall()
        return [(state, json.loads(payload)) for state, payload in rows]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a read on the outbox file (outside any transaction)."""
        return self._db.execute(sql, params).fetchall()

    def oldest_pending_at(self) -> float | None:
        """When the oldest record not yet acknowledged was journaled (epoch seconds)."""
        return self.query("SELECT MIN(journaled_at) FROM records WHERE state = 'pending'")[0][0]

    def status(self) -> OutboxStatus:
        counts = dict(
            self._db.execute("SELECT state, COUNT(*) FROM records GROUP BY state").fetchall()
        )
        in_batches = self._db.execute(
            "SELECT COUNT(*) FROM records WHERE batch_key IS NOT NULL"
        ).fetchone()[0]
        return OutboxStatus(
            pending=counts.get("pending", 0),
            in_batches=in_batches,
            acked=counts.get("acked", 0),
            quarantined=counts.get("quarantined", 0),
            next_seq=int(self._meta("next_seq") or 1),
        )


TRANSACTION_TYPES = frozenset(
    {"DEPOSIT", "WITHDRAWAL", "COLLECTION", "REPLENISHMENT", "ADJUSTMENT"}
)


def check_shape(tx: dict[str, Any]) -> None:
    """Refuse a record the cloud could never accept in any form (the content is the
    cloud's to validate)."""
    if tx["type"] not in TRANSACTION_TYPES:
        raise ValueError(f"type must be one of {sorted(TRANSACTION_TYPES)}, got {tx['type']!r}")
    if not isinstance(tx["occurred_at"], datetime) or tx["occurred_at"].tzinfo is None:
        raise ValueError("occurred_at must be a timezone-aware datetime")
    if not isinstance(tx["currency"], str) or not tx["currency"]:
        raise ValueError("currency must be an ISO 4217 code")
    lines = tx["lines"]
    if not lines:
        raise ValueError("lines must name at least one denomination")
    for line in lines:
        if not isinstance(line.get("denomination"), int) or not isinstance(line.get("count"), int):
            raise ValueError("each line needs integer denomination and count")
        if line.get("kind") not in (None, "NOTE", "COIN"):
            raise ValueError("line kind must be NOTE or COIN")
