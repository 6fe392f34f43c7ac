"""Raw records for the analytics tests and their expected sums, computed independently in
Python (zoneinfo for local buckets) from exactly what the test sent."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from auth.principal import principal_for_user
from models.machine import MachineModel
from resolvers.fleet.machines import register_machine
from tests.factories import Factory, Tenant

BERLIN = ZoneInfo("Europe/Berlin")
SIGN = {"DEPOSIT": 1, "REPLENISHMENT": 1, "WITHDRAWAL": -1, "COLLECTION": -1, "ADJUSTMENT": 1}
KIND_NAMES = {"N": "NOTE", "C": "COIN"}
TYPES = ["DEPOSIT", "WITHDRAWAL", "COLLECTION", "REPLENISHMENT", "ADJUSTMENT"]


@dataclass
class Raw:
    machine: Any
    seq: int
    type: str
    at: datetime
    lines: list[tuple[str, int, int]]  # (kind N/C, denomination, count)

    @property
    def currency(self) -> str:
        return self.machine.currency

    @property
    def amount(self) -> int:
        return sum(d * c for _, d, c in self.lines)

    def as_input(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "occurredAt": self.at.isoformat(),
            "currency": self.currency,
            "lines": [
                {"kind": KIND_NAMES[k], "denomination": d, "count": c} for k, d, c in self.lines
            ],
        }


@dataclass
class World:
    tenant: Tenant
    keys: dict[Any, str]
    factory: Factory
    records: list[Raw] = field(default_factory=list)
    seqs: dict[Any, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, machine: Any, type_: str, at: datetime, *lines: tuple[str, int, int]) -> None:
        self.seqs[machine.id] += 1
        self.records.append(Raw(machine, self.seqs[machine.id], type_, at, list(lines)))

    async def ingest(self, records: list[Raw]) -> None:
        """Send `records` per machine in batches of at most 200, machines concurrently."""
        by_machine: dict[Any, list[Raw]] = defaultdict(list)
        for r in records:
            by_machine[r.machine.id].append(r)

        async def send(rs: list[Raw]) -> None:
            machine = rs[0].machine
            for i in range(0, len(rs), 200):
                result = await self.factory.ingest_as_agent(
                    self.tenant,
                    [r.as_input() for r in rs[i : i + 200]],
                    machine_id=str(machine.id),
                    api_key=self.keys[machine.shop_id],
                )
                assert not result["rejected"], result
                assert not result["userErrors"], result
                assert result["accepted"] == len(rs[i : i + 200])

        await asyncio.gather(*(send(rs) for rs in by_machine.values()))


async def build_world(factory: Factory, *, shops: int = 2) -> World:
    """`shops` EUR shops with one CI-10 each, plus a USD machine in shop 0."""
    tenant = await factory.tenant(shops=shops, machines_per_shop=1)
    usd = await register_machine(
        principal=principal_for_user(tenant.admin),
        shop_id=str(tenant.shops[0].id),
        serial=f"USD-{uuid.uuid4().hex[:8]}",
        model=MachineModel.CI_10,
        currency="USD",
        name=None,
        first_seq=1,
    )
    tenant.machines.append(usd)
    keys = {tenant.shops[0].id: tenant.api_key}
    for i in range(1, shops):
        keys[tenant.shops[i].id] = await factory.api_key(tenant, shop_index=i)
    return World(tenant=tenant, keys=keys, factory=factory)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_buckets(start: datetime, end: datetime, interval: str, tz: ZoneInfo) -> list[datetime]:
    """Bucket starts intersecting [start, end), built by walking local calendar fields."""
    if interval == "HOUR":
        at = start.replace(minute=0, second=0, microsecond=0)
        out = []
        while at < end:
            out.append(at)
            at += timedelta(hours=1)
        return out
    local = start.astimezone(tz)
    day = local.date()
    if interval == "WEEK":
        day -= timedelta(days=day.weekday())
    if interval == "MONTH":
        day = day.replace(day=1)
    out = []
    while True:
        at = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        if at >= end:
            return out
        out.append(at)
        if interval == "MONTH":
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            day += timedelta(days=7 if interval == "WEEK" else 1)


def expected_flow(
    records: list[Raw], buckets: list[datetime], bucket_end: datetime, group_by: str
) -> dict[tuple[str, str | None], dict[str, list[int]]]:
    """{(currency, key): {"DEPOSIT": [...], ..., "count": [...], "pieces": [...]}}."""
    out: dict[tuple[str, str | None], dict[str, list[int]]] = {}
    n = len(buckets)
    for r in records:
        if not buckets[0] <= r.at < bucket_end:
            continue
        i = max(j for j, b in enumerate(buckets) if b <= r.at)
        parts: list[tuple[str | None, int, int | None]] = []  # key, amount, pieces
        if group_by == "DENOMINATION":
            parts = [(f"{k}{d}", d * c, SIGN[r.type] * c) for k, d, c in r.lines]
        else:
            key = {
                "NONE": None,
                "SHOP": str(r.machine.shop_id),
                "MACHINE": str(r.machine.id),
                "TYPE": r.type,
            }[group_by]
            parts = [(key, r.amount, None)]
        for key, amount, pieces in parts:
            s = out.setdefault(
                (r.currency, key), {t: [0] * n for t in [*TYPES, "net", "count", "pieces"]}
            )
            s[r.type][i] += amount
            s["net"][i] += SIGN[r.type] * amount
            s["count"][i] += 1
            if pieces is not None:
                s["pieces"][i] += pieces
    return out


def expected_counts(records: list[Raw], *, before: datetime | None = None) -> dict:
    """{currency: {slot: pieces}} from every record (occurring before `before`)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        if before is None or r.at < before:
            for k, d, c in r.lines:
                out[r.currency][f"{k}{d}"] += SIGN[r.type] * c
    return out
