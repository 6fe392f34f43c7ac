"""What ingest records about how current a machine's ledger is (pure): since when each open
seq gap has been open, and how late recent records arrived. Kept in the machine state and
written in the ingest transaction; read by machine health (resolvers/health/freshness.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
