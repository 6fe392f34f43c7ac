"""End-of-run verification through the public API: the cloud must hold exactly the records
the shops journaled: same seqs once each, same content, same sums, same inventory."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from simulator.api import CloudApi

OUTFLOWS = {"WITHDRAWAL", "COLLECTION"}


def _line_key(line: dict[str, Any]) -> tuple[str, int, int]:
    return (line["kind"], line["denomination"], line["count"])


def _amount(record: dict[str, Any]) -> int:
    return sum(ln["denomination"] * ln["count"] for ln in record["lines"])


def _content(record: dict[str, Any]) -> tuple:
    return (
        record["type"],
        record["currency"],
        _amount(record),
        tuple(sorted(_line_key(ln) for ln in record["lines"])),
    )


def inventory_of(records: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Pieces per (kind, denomination) after applying `records` to an empty machine."""
    counts: Counter[tuple[str, int]] = Counter()
    for rec in records:
        sign = -1 if rec["type"] in OUTFLOWS else 1
        for line in rec["lines"]:
            counts[(line["kind"], line["denomination"])] += sign * line["count"]
    return {slot: n for slot, n in counts.items() if n}


@dataclass
class MachineCheck:
    """One machine: what the outbox journaled against what the cloud holds."""

    machine_id: str
    journaled: int
    unacknowledged: int
    quarantined: int
    stored: int
    journaled_sum: int
    stored_sum: int
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    different: list[int] = field(default_factory=list)
    inventory_diff: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.unacknowledged
            or self.quarantined
            or self.missing
            or self.extra
            or self.duplicated
            or self.different
            or self.inventory_diff
            or self.journaled != self.stored
            or self.journaled_sum != self.stored_sum
        )

    def problems(self) -> list[str]:
        out = []
        for name in ("missing", "extra", "duplicated", "different"):
            seqs = getattr(self, name)
            if seqs:
                out.append(f"{name} seqs {seqs[:10]}{'...' if len(seqs) > 10 else ''}")
        if self.unacknowledged:
            out.append(f"{self.unacknowledged} journaled records not acknowledged")
        if self.quarantined:
            out.append(f"{self.quarantined} records quarantined")
        if self.journaled_sum != self.stored_sum:
            out.append(f"sum journaled {self.journaled_sum} != stored {self.stored_sum}")
        for slot, (want, got) in self.inventory_diff.items():
            out.append(f"inventory {slot}: journaled {want}, cloud {got}")
        return out


@dataclass
class Verification:
    machines: list[MachineCheck]

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.machines)

    @property
    def journaled(self) -> int:
        return sum(m.journaled for m in self.machines)

    @property
    def stored(self) -> int:
        return sum(m.stored for m in self.machines)


async def verify(
    api: CloudApi, journals: dict[str, list[tuple[str, dict[str, Any]]]]
) -> Verification:
    """Compare each machine's journal (outbox records as (state, record)) with the
    transactions connection and the inventory query of the public API."""
    ids = list(journals)
    stored: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # One machine at a time: each page of the newest-first history then only has to order that
    # machine's transactions, not the whole fleet's.
    for machine_id in ids:
        async for node in api.transactions([machine_id]):
            stored[node["machineId"]].append(node)
    inventories = {m["machine"]["id"]: m for m in await api.inventory(ids)}
    checks = []
    for machine_id, journal in journals.items():
        records = [rec for _, rec in journal]
        cloud = stored.get(machine_id, [])
        by_seq = {r["seq"]: r for r in records}
        cloud_seqs = Counter(n["seq"] for n in cloud)
        check = MachineCheck(
            machine_id=machine_id,
            journaled=len(records),
            unacknowledged=sum(1 for state, _ in journal if state == "pending"),
            quarantined=sum(1 for state, _ in journal if state == "quarantined"),
            stored=len(cloud),
            journaled_sum=sum(_amount(r) for r in records),
            stored_sum=sum(n["amount"] for n in cloud),
            missing=sorted(set(by_seq) - set(cloud_seqs)),
            extra=sorted(set(cloud_seqs) - set(by_seq)),
            duplicated=sorted(s for s, n in cloud_seqs.items() if n > 1),
            different=sorted(
                n["seq"]
                for n in cloud
                if n["seq"] in by_seq and _content(n) != _content(by_seq[n["seq"]])
            ),
        )
        want = inventory_of(records)
        report = inventories.get(machine_id, {"denominations": []})
        got = {
            (d["kind"], d["denomination"]): d["count"]
            for d in report["denominations"]
            if d["count"]
        }
        for slot in sorted(set(want) | set(got)):
            if want.get(slot, 0) != got.get(slot, 0):
                check.inventory_diff[f"{slot[0]} {slot[1]}"] = (want.get(slot, 0), got.get(slot, 0))
        checks.append(check)
    return Verification(machines=checks)
