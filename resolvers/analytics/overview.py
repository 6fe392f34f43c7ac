"""`overview`: cash held now, today's and this month's flows, top shops, machine activity."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import ObjectId

from auth.principal import Principal
from models.analytics_store import Grain, run, summaries_in_scope
from models.currencies import CashKind
from models.ledger import FLOW_SIGN, TRANSACTION_TYPES
from models.ledger_store import list_inventory_states
from models.machine_store import list_machines
from models.organization import utcnow
from resolvers.analytics.buckets import as_local_date
from resolvers.analytics.cash_flow import resolve_timezone
from resolvers.errors import CommonErrorCode, ServiceError
from resolvers.fleet.inventory import machine_view

MAX_TOP_SHOPS = 100
ACTIVE_WINDOW = timedelta(hours=24)


@dataclass
class CashHeld:
    """Cash in machines in one currency; `notes_value + coins_value == value`."""

    currency: str
    value: int = 0
    pieces: int = 0
    notes_value: int = 0
    coins_value: int = 0


@dataclass
class FlowTotals:
    currency: str
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TRANSACTION_TYPES, 0))
    count: int = 0

    @property
    def net(self) -> int:
        return sum(FLOW_SIGN[t] * v for t, v in self.values.items())


@dataclass
class ShopCash:
    shop_id: ObjectId
    held: CashHeld
    machines: int = 0
    last_transaction_at: datetime | None = None


@dataclass
class Overview:
    """`today`/`month_to_date` use each shop's local calendar date equal to the date (and
    month) of `as_of` in `timezone`. `machines_active` counts machines with a transaction in
    24 hours; connectivity and error counts come from fleet health (resolvers/health)."""

    as_of: datetime
    timezone: str
    cash_held: list[CashHeld]
    today: list[FlowTotals]
    month_to_date: list[FlowTotals]
    top_shops: list[ShopCash]
    machines_total: int
    machines_active: int
    last_transaction_at: datetime | None


def _add(held: CashHeld, kind: CashKind, value: int, pieces: int) -> None:
    held.value += value
    held.pieces += pieces
    if kind is CashKind.NOTE:
        held.notes_value += value
    else:
        held.coins_value += value


async def overview(*, principal: Principal, currency: str | None, top: int) -> Overview:
    """The dashboard's headline numbers for everything in the caller's scope."""
    if not 1 <= top <= MAX_TOP_SHOPS:
        raise ServiceError.of(
            CommonErrorCode.BAD_PAGE_SIZE, f"top must be between 1 and {MAX_TOP_SHOPS}", field="top"
        )
    scope = principal.scope
    now = utcnow()
    tz = await resolve_timezone(scope, None)
    today = as_local_date(now, tz)
    month_start = today.replace(day=1)
    # Independent reads, sent together: the database works on one while the API decodes
    # another.
    all_machines, state_docs, docs = await asyncio.gather(
        list_machines(scope=scope),
        list_inventory_states(scope=scope),
        run(
            Grain.MONTH,
            summaries_in_scope(
                scope, start=month_start, end=today + timedelta(days=1), currency=currency
            ),
        ),
    )
    machines = [m for m in all_machines if currency is None or m.currency == currency]
    states = {s["_id"]: s for s in state_docs}
    held: dict[str, CashHeld] = {}
    shops: dict[tuple[ObjectId, str], ShopCash] = {}
    last_seen: datetime | None = None
    active = 0
    for machine in machines:
        state = states.get(machine.id)
        view = machine_view(machine, state)
        total = held.setdefault(view.currency, CashHeld(view.currency))
        shop = shops.setdefault(
            (machine.shop_id, view.currency),
            ShopCash(machine.shop_id, CashHeld(view.currency)),
        )
        shop.machines += 1
        for slot in view.slots:
            _add(total, slot.kind, slot.value, slot.count)
            _add(shop.held, slot.kind, slot.value, slot.count)
        last = state.get("last_occurred_at") if state else None
        if last is not None:
            if shop.last_transaction_at is None or last > shop.last_transaction_at:
                shop.last_transaction_at = last
            last_seen = last if last_seen is None or last > last_seen else last_seen
            active += last >= now - ACTIVE_WINDOW
    today_totals: dict[str, FlowTotals] = {}
    month_totals: dict[str, FlowTotals] = {}
    # Days of the month up to today; a later day holds future-dated transactions (allowed
    # clock skew), not counted yet.
    so_far, today_index = today.day, today.day - 1
    for doc in docs:
        c, counts = doc["currency"], doc["n"]
        month_count = sum(counts[:so_far])
        if not month_count:
            continue
        month = month_totals.setdefault(c, FlowTotals(c))
        month.count += month_count
        day = today_totals.setdefault(c, FlowTotals(c)) if counts[today_index] else None
        if day is not None:
            day.count += counts[today_index]
        for type_, amounts in doc["a"].items():
            month.values[type_] += sum(amounts[:so_far])
            if day is not None:
                day.values[type_] += amounts[today_index]
    ranked = sorted(shops.values(), key=lambda s: (s.held.currency, -s.held.value, str(s.shop_id)))
    return Overview(
        as_of=now,
        timezone=tz,
        cash_held=[held[c] for c in sorted(held)],
        today=[today_totals[c] for c in sorted(today_totals)],
        month_to_date=[month_totals[c] for c in sorted(month_totals)],
        top_shops=_top_per_currency(ranked, top),
        machines_total=len(machines),
        machines_active=active,
        last_transaction_at=last_seen,
    )


def _top_per_currency(ranked: list[ShopCash], top: int) -> list[ShopCash]:
    taken: dict[str, int] = defaultdict(int)
    result = []
    for shop in ranked:
        if taken[shop.held.currency] < top:
            taken[shop.held.currency] += 1
            result.append(shop)
    return result
