"""Realistic, reproducible cash traffic of one machine.

A business day in the shop's time zone: an opening float (REPLENISHMENT of coins and small
notes), customer deposits and change withdrawals spread over opening hours, and an end-of-day
COLLECTION of the notes above the float. Denominations come from the currency catalog. The
machine's counts are tracked so a withdrawal never dispenses cash the machine does not hold.
Everything derives from the seed: the same seed gives byte-for-byte the same transactions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models.currencies import get_currency

OPERATORS = ("cashier-1", "cashier-2", "cashier-3", "manager")


@dataclass(frozen=True)
class ShopProfile:
    """Where and when a shop trades."""

    timezone: str
    currency: str
    opens: time = time(8, 0)
    closes: time = time(20, 0)


def _line(slot: tuple[str, int], count: int) -> dict[str, Any]:
    kind, denomination = slot
    return {"denomination": denomination, "count": count, "kind": kind}


class MachineTraffic:
    """Generates the transactions of one machine, oldest first."""

    def __init__(self, profile: ShopProfile, *, seed: int) -> None:
        currency = get_currency(profile.currency)
        if currency is None:
            raise ValueError(f"unknown currency {profile.currency}")
        self.profile = profile
        self.currency = currency
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(profile.timezone)
        self.counts: dict[tuple[str, int], int] = {}
        notes = [("NOTE", v) for v in currency.notes]
        coins = [("COIN", v) for v in currency.coins]
        self.small_notes = notes[:3]
        self.large_notes = notes[3:]
        self.coins = coins
        # The float the shop starts each day with: change for the first customers.
        self.float = {slot: 40 for slot in coins} | {slot: 20 for slot in self.small_notes}

    def generate(self, count: int, *, now: datetime) -> list[dict[str, Any]]:
        """`count` transactions (at least 2 per day) over the business days ending before
        `now`, in the shop's local hours; suitable for `AgentClient.journal_many`."""
        per_day = max(12, min(400, count // 3))
        days = max(1, -(-count // per_day))
        today = now.astimezone(self.tz).date()
        out: list[dict[str, Any]] = []
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            out += self._day(day, per_day)
        return out[:count]

    def _at(self, day: Any, seconds_after_open: float) -> datetime:
        opens = datetime.combine(day, self.profile.opens, tzinfo=self.tz)
        return (opens + timedelta(seconds=seconds_after_open)).astimezone(UTC)

    def _day(self, day: Any, size: int) -> list[dict[str, Any]]:
        hours = datetime.combine(day, self.profile.closes) - datetime.combine(
            day, self.profile.opens
        )
        span = hours.total_seconds()
        txs = [self._float(day)]
        moments = sorted(self.rng.uniform(60, span - 120) for _ in range(size - 2))
        for moment in moments:
            at = self._at(day, moment)
            tx = self._withdrawal(at) if self.rng.random() < 0.3 else None
            txs.append(tx or self._deposit(at))
        txs.append(self._collection(day, span - 30))
        return txs

    def _apply(self, lines: list[dict[str, Any]], sign: int) -> None:
        for line in lines:
            slot = (line["kind"], line["denomination"])
            self.counts[slot] = self.counts.get(slot, 0) + sign * line["count"]

    def _tx(self, type_: str, at: datetime, lines: list[dict[str, Any]]) -> dict[str, Any]:
        self._apply(lines, -1 if type_ in ("WITHDRAWAL", "COLLECTION") else 1)
        return {
            "type": type_,
            "occurred_at": at,
            "currency": self.currency.code,
            "lines": lines,
            "amount": sum(ln["denomination"] * ln["count"] for ln in lines),
            "reference": f"R{self.rng.randrange(10**8):08d}",
            "operator_id": self.rng.choice(OPERATORS),
        }

    def _float(self, day: Any) -> dict[str, Any]:
        lines = [
            _line(slot, want - self.counts.get(slot, 0))
            for slot, want in self.float.items()
            if want > self.counts.get(slot, 0)
        ] or [_line(self.coins[-1], 10)]
        return self._tx("REPLENISHMENT", self._at(day, 0), lines)

    def _deposit(self, at: datetime) -> dict[str, Any]:
        slots = self.rng.sample(
            self.small_notes + self.large_notes[:2] + self.coins,
            k=self.rng.randint(1, 4),
        )
        lines = [_line(s, self.rng.randint(1, 5 if s[0] == "NOTE" else 12)) for s in sorted(slots)]
        return self._tx("DEPOSIT", at, lines)

    def _withdrawal(self, at: datetime) -> dict[str, Any] | None:
        held = [s for s in self.coins + self.small_notes if self.counts.get(s, 0) >= 5]
        if not held:
            return None
        slots = self.rng.sample(held, k=min(len(held), self.rng.randint(1, 3)))
        lines = [_line(s, self.rng.randint(1, min(4, self.counts[s]))) for s in sorted(slots)]
        return self._tx("WITHDRAWAL", at, lines)

    def _collection(self, day: Any, seconds_after_open: float) -> dict[str, Any]:
        lines = [
            _line(slot, held - self.float.get(slot, 0))
            for slot in self.small_notes + self.large_notes
            if (held := self.counts.get(slot, 0)) > self.float.get(slot, 0)
        ]
        if not lines:
            # Nothing above the float: the cash-in-transit crew still logs a visit.
            return self._tx("REPLENISHMENT", self._at(day, seconds_after_open), [self._one_coin()])
        return self._tx("COLLECTION", self._at(day, seconds_after_open), lines)

    def _one_coin(self) -> dict[str, Any]:
        return _line(self.coins[-1], 1)
