"""What a simulated recycler reports around each transaction of its traffic (pure).

Per transaction: the machine's status while it works (COUNTING for a deposit, DISPENSING for
a withdrawal, COLLECTING, REPLENISHING) and IDLE after, its units' fill following the ledger
(one recycling unit per coin and small note, the large notes in the collection box), the
collection box door opened and closed around a collection, now and then a note jam the
device clears by itself (raised and cleared in one report), and suspect notes on some
deposits. Device faults (`--faults`) come on top: a jam that does not clear after the last
transaction, and a busy evening that fills the collection box.

Everything derives from the seed and the transaction's position, so a restarted local
system (after a kill) rebuilds the same device state from the transactions it journaled.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import timedelta
from typing import Any

STATUS_OF = {"DEPOSIT": 4, "WITHDRAWAL": 5, "COLLECTION": 12, "REPLENISHMENT": 16}
IDLE, ERROR = 1, 13
MODULE_IDLE, MODULE_BUSY, MODULE_ERROR = 1000, 2000, 9200
BOX_UNIT = 20
JAM_RATE = 0.04
SUSPECT_RATE = 0.02
OUTFLOWS = {"WITHDRAWAL", "COLLECTION"}
Event = tuple[str, Any]


def _unit_status(count: int, capacity: int, near_full: int, near_empty: int = 0) -> int:
    """Glory's inventory status code: 0 empty, 1 near-empty, 2 exists, 3 near-full, 4 full."""
    if count <= 0:
        return 0
    if count >= capacity:
        return 4
    if count >= near_full:
        return 3
    return 1 if count <= near_empty else 2


class SimulatedDevice:
    """The device of one machine; `recycled` are the (kind, denomination) slots it pays out
    from, every other slot goes to the collection box. With `full_box` a last deposit of
    `box_slot` notes is appended to `transactions` that fills the box to its capacity."""

    def __init__(
        self,
        transactions: list[dict[str, Any]],
        recycled: set[tuple[str, int]],
        *,
        seed: int,
        box_slot: tuple[str, int],
        jam_fault: bool = False,
        full_box: bool = False,
    ) -> None:
        self.transactions = transactions
        self.recycled = recycled
        self.seed = seed
        self.jam_fault = jam_fault
        self.full_box = full_box
        self._after = self._walk(transactions)
        peak: Counter[tuple[str, int]] = Counter()
        for counts in self._after:
            for slot, n in counts.items():
                peak[slot] = max(peak[slot], n)
        peak_box = max((self._box(c) for c in self._after), default=0)
        self.capacity = {slot: 2 * n + 50 for slot, n in peak.items()}
        self.box_capacity = 2 * peak_box + 50
        if full_box and transactions:
            final = self._box(self._after[-1])
            # Never near full before the busy evening: it must fill the box exactly once.
            self.box_capacity = max(2 * final, final + 20, math.ceil(peak_box / 0.9) + 1)
            last = transactions[-1]
            count = self.box_capacity - final
            transactions.append({
                "type": "DEPOSIT", "occurred_at": last["occurred_at"] + timedelta(minutes=1),
                "currency": last["currency"],
                "lines": [{"kind": box_slot[0], "denomination": box_slot[1], "count": count}],
                "amount": box_slot[1] * count, "reference": "busy-evening",
                "operator_id": "manager",
            })  # fmt: skip
            self._after = self._walk(transactions)

    @staticmethod
    def _walk(transactions: list[dict[str, Any]]) -> list[Counter[tuple[str, int]]]:
        counts: Counter[tuple[str, int]] = Counter()
        out = []
        for tx in transactions:
            sign = -1 if tx["type"] in OUTFLOWS else 1
            for line in tx["lines"]:
                counts[(line["kind"], line["denomination"])] += sign * line["count"]
            out.append(Counter(counts))
        return out

    def _box(self, counts: Counter[tuple[str, int]]) -> int:
        return sum(n for slot, n in counts.items() if slot not in self.recycled and n > 0)

    def counts_after(self, position: int) -> Counter[tuple[str, int]]:
        """The ledger's counts after the first `position` transactions."""
        return self._after[position - 1] if position > 0 else Counter()

    def units(self, counts: Counter[tuple[str, int]]) -> list[dict[str, Any]]:
        """The UNITS section for these counts."""
        out = []
        for number, slot in enumerate(sorted(self.recycled), start=1):
            n = max(0, counts.get(slot, 0))
            cap = self.capacity.get(slot, 100)
            out.append({
                "number": number, "purpose": "RECYCLE", "capacity": cap,
                "nearEmpty": 0, "nearFull": int(cap * 0.9),
                "statusCode": _unit_status(n, cap, int(cap * 0.9)),
                "pieces": [{"kind": slot[0], "denomination": slot[1], "count": n}],
            })  # fmt: skip
        box = self._box(counts)
        near_full = int(self.box_capacity * 0.9)
        out.append({
            "number": BOX_UNIT, "purpose": "COLLECTION_BOX", "capacity": self.box_capacity,
            "nearFull": near_full,
            "statusCode": _unit_status(box, self.box_capacity, near_full),
            "pieces": [
                {"kind": k, "denomination": d, "count": n}
                for (k, d), n in sorted(counts.items()) if (k, d) not in self.recycled and n > 0
            ],
        })  # fmt: skip
        return out

    def events_for(self, position: int) -> list[Event]:
        """What the device reports around transaction `position` (0-based), in order."""
        tx = self.transactions[position]
        rng = random.Random(self.seed * 7_919 + position)
        busy = {"module": 1, "code": MODULE_BUSY}
        events: list[Event] = []
        if tx["type"] == "COLLECTION":
            events.append(("DOOR", {"door": "COLLECTION_BOX", "unit": BOX_UNIT,
                                    "state": "OPENED", "operatorId": "cit-crew"}))  # fmt: skip
        events.append(("STATUS", {"code": STATUS_OF[tx["type"]], "modules": [busy]}))
        if tx["type"] == "DEPOSIT" and not self.jam_fault and rng.random() < JAM_RATE:
            jam = {"code": "NOTE_JAM", "message": "jam at transport", "module": 1}
            events.append(("ERROR", {**jam, "recovering": True}))
            events.append(("ERROR_CLEARED", {"code": "NOTE_JAM", "module": 1}))
        if tx["type"] == "DEPOSIT" and rng.random() < SUSPECT_RATE:
            events.append(("SUSPECT_NOTES", {"category2": 0, "category3": 1,
                                             "operatorId": tx.get("operator_id")}))  # fmt: skip
        events.append(("UNITS", self.units(self.counts_after(position + 1))))
        if tx["type"] == "COLLECTION":
            events.append(("DOOR", {"door": "COLLECTION_BOX", "unit": BOX_UNIT,
                                    "state": "CLOSED", "operatorId": "cit-crew"}))  # fmt: skip
        events.append(("STATUS", {"code": IDLE, "modules": [{"module": 1, "code": MODULE_IDLE}]}))
        return events

    def closing_events(self) -> list[Event]:
        """After the last transaction: the stuck jam of `jam_fault` (never cleared)."""
        if not self.jam_fault:
            return []
        return [
            ("ERROR", {"code": "NOTE_JAM", "message": "jam at transport, needs a technician",
                       "module": 1, "recovering": False}),
            ("STATUS", {"code": ERROR, "modules": [{"module": 1, "code": MODULE_ERROR}]}),
        ]  # fmt: skip
