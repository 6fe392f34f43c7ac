"""Live cash inventory per machine and denomination, with fill status and totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bson import ObjectId

from auth.principal import Principal
from models.currencies import CashKind, get_currency, parse_slot
from models.ledger_store import list_inventory_states
from models.machine import Machine, SlotLimits
from models.machine_store import list_machines


class FillStatus(StrEnum):
    EMPTY = "EMPTY"
    NEAR_EMPTY = "NEAR_EMPTY"
    OK = "OK"
    NEAR_FULL = "NEAR_FULL"
    FULL = "FULL"


def fill_status(count: int, limits: SlotLimits) -> FillStatus:
    if count <= 0:
        return FillStatus.EMPTY
    if count >= limits.capacity:
        return FillStatus.FULL
    if count >= limits.near_full:
        return FillStatus.NEAR_FULL
    if count <= limits.near_empty:
        return FillStatus.NEAR_EMPTY
    return FillStatus.OK


@dataclass(frozen=True)
class SlotInventory:
    kind: CashKind
    denomination: int
    count: int
    limits: SlotLimits
    status: FillStatus

    @property
    def value(self) -> int:
        return self.denomination * self.count

    @property
    def capacity(self) -> int:
        return self.limits.capacity

    @property
    def near_empty(self) -> int:
        return self.limits.near_empty

    @property
    def near_full(self) -> int:
        return self.limits.near_full


@dataclass(frozen=True)
class MachineInventoryView:
    machine: Machine
    currency: str
    slots: list[SlotInventory]
    updated_at: datetime | None
    chain_position: int

    @property
    def denominations(self) -> list[SlotInventory]:
        return self.slots

    @property
    def total_value(self) -> int:
        return sum(s.value for s in self.slots)

    @property
    def total_pieces(self) -> int:
        return sum(s.count for s in self.slots)


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    value: int
    pieces: int


@dataclass(frozen=True)
class InventoryReport:
    machines: list[MachineInventoryView]
    totals: list[CurrencyTotal]


def machine_view(machine: Machine, state: dict | None) -> MachineInventoryView:
    """Every slot of the machine's currency (zero when never seen), with limits and status.

    Counts are the exact sum of accepted movements and may be negative when the reported
    movements do not add up; such records carry the NEGATIVE_INVENTORY flag.
    """
    counts = state["counts"] if state else {}
    currency = get_currency(machine.currency)
    slot_keys = currency.slots() if currency else []
    slot_keys += [k for k in counts if k not in slot_keys]
    slots = []
    for key in slot_keys:
        kind, denomination = parse_slot(key)
        limits = machine.limits.get(key) or SlotLimits(capacity=1, near_empty=0, near_full=1)
        count = counts.get(key, 0)
        slots.append(SlotInventory(kind, denomination, count, limits, fill_status(count, limits)))
    return MachineInventoryView(
        machine=machine,
        currency=machine.currency,
        slots=slots,
        updated_at=state.get("updated_at") if state else None,
        chain_position=state["chain_position"] if state else 0,
    )


def currency_totals(views: list[MachineInventoryView]) -> list[CurrencyTotal]:
    """Totals per currency; amounts of different currencies are never added together."""
    value: dict[str, int] = defaultdict(int)
    pieces: dict[str, int] = defaultdict(int)
    for view in views:
        value[view.currency] += view.total_value
        pieces[view.currency] += view.total_pieces
    return [CurrencyTotal(c, value[c], pieces[c]) for c in sorted(value)]


async def inventory_report(
    *,
    principal: Principal,
    shop_ids: list[ObjectId] | None,
    machine_ids: list[ObjectId] | None,
) -> InventoryReport:
    """Inventory of the machines in the caller's scope, narrowed by the requested ids."""
    machines = await list_machines(
        scope=principal.scope, shop_ids=shop_ids, machine_ids=machine_ids
    )
    states = {
        s["_id"]: s
        for s in await list_inventory_states(
            scope=principal.scope, machine_ids=[m.id for m in machines]
        )
    }
    views = [machine_view(m, states.get(m.id)) for m in machines]
    return InventoryReport(machines=views, totals=currency_totals(views))
