"""Cash as the local systems report it, shared by transaction records and telemetry."""

from __future__ import annotations

from dataclasses import dataclass

from models.currencies import CashKind


@dataclass(frozen=True)
class CashCount:
    """Pieces of one denomination: a transaction's line, a cash unit's contents. `kind` is
    needed only where the value is both a note and a coin (USD 100)."""

    denomination: int
    count: int
    kind: CashKind | None = None
