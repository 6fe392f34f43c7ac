"""The telemetry queue of one machine: device events and heartbeats, kept in the machine's
outbox file (same SQLite database, lock and `synchronous=FULL` commits as the transactions).

Life of a message:
    report() -> pending -> sent in a `reportMachineTelemetry` call -> acked (accepted,
    duplicate or stale: the cloud holds it) or dead (rejected: kept with the cloud's code and
    message for an operator, never resent, so one bad message cannot block the queue).

Every message gets, when it is queued, an `eventId` (the outbox's random id and a counter, so
a recreated outbox never reuses one) and a telemetry `seq` that only grows: the larger of the
previous seq + 1 and the current time in microseconds, so a machine whose outbox was lost and
recreated still sends seqs above what the cloud's twin holds.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.outbox import Outbox

MAX_MESSAGES_PER_CALL = 500
KINDS = {
    "HEARTBEAT": "heartbeat",
    "STATUS": "status",
    "UNITS": "units",
    "DEVICE_COUNTS": "deviceCounts",
    "ERROR": "error",
    "ERROR_CLEARED": "error",
    "DOOR": "door",
    "SUSPECT_NOTES": "suspectNotes",
    "FIRMWARE": "firmware",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'dead')),
    queued_at REAL NOT NULL,
    acked_at REAL,
    reject_code TEXT,
    reject_message TEXT
);
CREATE INDEX IF NOT EXISTS telemetry_by_state ON telemetry (state, seq);
"""


@dataclass(frozen=True)
class DeadLetter:
    """A message the cloud rejected: its code and message, and the message as sent."""

    seq: int
    event_id: str
    code: str
    reason: str
    message: dict[str, Any]


@dataclass(frozen=True)
class TelemetryStatus:
    pending: int
    acked: int
    dead: int
    oldest_pending_at: float | None


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("observed_at must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TelemetryQueue:
    """Durable queue of `TelemetryMessageInput`s on an open `Outbox`."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        with outbox.transaction() as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE name = 'telemetry_source'").fetchone()
            if row is None:
                source = uuid.uuid4().hex[:12]
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('telemetry_source', ?)", (source,)
                )
            else:
                source = row[0]
        self.source = source

    def report(self, kind: str, section: Any, *, observed_at: datetime) -> dict[str, Any]:
        """Durably queue one message of `kind` with its section (the GraphQL input shape,
        e.g. `{"code": 4, "modules": [...]}` for STATUS); returns the message."""
        return self.report_many([(kind, section, observed_at)])[0]

    def report_many(self, events: list[tuple[str, Any, datetime]]) -> list[dict[str, Any]]:
        """`report()` for several (kind, section, observed_at) in one durable commit."""
        for kind, section, _ in events:
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
            if section is None:
                raise ValueError(f"{kind} needs its {KINDS[kind]} section")
        now = time.time()
        out = []
        with self.outbox.transaction() as db:
            last = db.execute("SELECT MAX(seq) FROM telemetry").fetchone()[0] or 0
            for kind, section, observed_at in events:
                seq = max(last + 1, int(now * 1_000_000))
                message = {
                    "eventId": f"{self.source}-{seq}",
                    "seq": seq,
                    "observedAt": _iso(observed_at),
                    "kind": kind,
                    KINDS[kind]: section,
                }
                db.execute(
                    "INSERT INTO telemetry (seq, event_id, kind, message, state, queued_at) "
                    "VALUES (?, ?, ?, ?, 'pending', ?)",
                    (seq, message["eventId"], kind, json.dumps(message), now),
                )
                out.append(message)
                last = seq
        return out

    def pending(self, limit: int = MAX_MESSAGES_PER_CALL) -> list[dict[str, Any]]:
        """The oldest unsent messages, in seq order."""
        rows = self.outbox.query(
            "SELECT message FROM telemetry WHERE state = 'pending' ORDER BY seq LIMIT ?",
            (min(limit, MAX_MESSAGES_PER_CALL),),
        )
        return [json.loads(r[0]) for r in rows]

    def complete(
        self, messages: list[dict[str, Any]], rejected: dict[int, tuple[str, str]]
    ) -> None:
        """Record the cloud's answer to one call: the messages at the `rejected` indexes
        (index -> code, message) become dead letters, every other one is acked."""
        now = time.time()
        with self.outbox.transaction() as db:
            for index, message in enumerate(messages):
                if index in rejected:
                    code, reason = rejected[index]
                    db.execute(
                        "UPDATE telemetry SET state = 'dead', reject_code = ?, "
                        "reject_message = ? WHERE seq = ?",
                        (code, reason, message["seq"]),
                    )
                else:
                    db.execute(
                        "UPDATE telemetry SET state = 'acked', acked_at = ? WHERE seq = ?",
                        (now, message["seq"]),
                    )

    def dead_letters(self) -> list[DeadLetter]:
        """Messages the cloud rejected, oldest first."""
        rows = self.outbox.query(
            "SELECT seq, event_id, reject_code, reject_message, message FROM telemetry "
            "WHERE state = 'dead' ORDER BY seq"
        )
        return [DeadLetter(s, e, c, r, json.loads(m)) for s, e, c, r, m in rows]

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Every message still held as (state, message), in seq order."""
        rows = self.outbox.query("SELECT state, message FROM telemetry ORDER BY seq")
        return [(state, json.loads(message)) for state, message in rows]

    def purge_acked(self, older_than_seconds: float) -> int:
        """Forget acked messages acknowledged more than `older_than_seconds` ago."""
        with self.outbox.transaction() as db:
            cur = db.execute(
                "DELETE FROM telemetry WHERE state = 'acked' AND acked_at < ?",
                (time.time() - older_than_seconds,),
            )
        return cur.rowcount

    def status(self) -> TelemetryStatus:
        counts = dict(self.outbox.query("SELECT state, COUNT(*) FROM telemetry GROUP BY state"))
        oldest = self.outbox.query("SELECT MIN(queued_at) FROM telemetry WHERE state = 'pending'")
        return TelemetryStatus(
            pending=counts.get("pending", 0),
            acked=counts.get("acked", 0),
            dead=counts.get("dead", 0),
            oldest_pending_at=oldest[0][0],
        )
