"""What ingest records about how current a machine's ledger is (pure): since when each open
seq gap has been open, and how late recent records arrived. Kept in the machine state and
written in the ingest transaction; read by machine health (resolvers/health/freshness.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.currencies import slot_key
from models.ledger import TransactionFlag, TransactionType

# Record lags kept per machine, newest last: enough for a stable p95 over recent batches.
MAX_LAG_SAMPLES = 64


def gaps_open_since(
    previous: list[list[Any]], missing: list[tuple[int, int]], now: datetime
) -> list[list[Any]]:
    """`[[from, to, open_since], ...]` for the `missing` ranges: a range inherits the oldest
    `open_since` of the previous ranges it lies in (a gap only shrinks or splits as seqs
    arrive); a range that overlaps none opened `now`."""
    out: list[list[Any]] = []
    for lo, hi in missing:
        since = [s for plo, phi, s in previous if plo <= hi and lo <= phi]
        out.append([lo, hi, min(since) if since else now])
    return out


def recent_lags(
    previous: list[float], documents: list[dict[str, Any]], received_at: datetime
) -> list[float]:
    """The newest MAX_LAG_SAMPLES `received_at - occurred_at` (seconds) over recent records."""
    new = [
        round((received_at - doc["occurred_at"]).total_seconds(), 3)
        for doc in documents[-MAX_LAG_SAMPLES:]
    ]
    return (list(previous) + new)[-MAX_LAG_SAMPLES:]


def dispensed_slots(previous: list[str], documents: list[dict[str, Any]]) -> list[str]:
    """Slot keys the machine has paid out (WITHDRAWAL) at least once: its dispensable
    denominations, the ones whose running low matters (alert DENOMINATION_*)."""
    slots = set(previous)
    for doc in documents:
        if doc["type"] == TransactionType.WITHDRAWAL.value:
            slots.update(slot_key(line["kind"], line["denomination"]) for line in doc["lines"])
    return sorted(slots)


def last_negative(
    previous: dict[str, Any] | None, documents: list[dict[str, Any]], received_at: datetime
) -> dict[str, Any] | None:
    """The newest stored record flagged NEGATIVE_INVENTORY (`seq`, `received_at`), kept on
    the state so the alert NEGATIVE_INVENTORY sees it even once the counts are back up."""
    flagged = [d for d in documents if TransactionFlag.NEGATIVE_INVENTORY.value in d["flags"]]
    if not flagged:
        return previous
    return {"seq": flagged[-1]["seq"], "received_at": received_at}
