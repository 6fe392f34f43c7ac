"""`denominationBreakdown`: pieces and value per denomination, now or at an earlier hour."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from auth.principal import Principal
from models.analytics_store import Grain, run, slot_flow_pipeline
from models.currencies import CashKind, parse_slot
from models.ledger import FLOW_SIGN, TRANSACTION_TYPES
from models.ledger_store import list_inventory_states
from models.machine_store import list_machines
from models.organization import utcnow
from models.summary_store import hour_of
from resolvers.timestamps import optional_instant


@dataclass(frozen=True)
class DenominationAmount:
    kind: CashKind
    denomination: int
    pieces: int

    @property
    def value(self) -> int:
        return self.denomination * self.pieces


@dataclass(frozen=True)
class CurrencyBreakdown:
    currency: str
    denominations: list[DenominationAmount]

    @property
    def total_value(self) -> int:
        return sum(d.value for d in self.denominations)

    @property
    def total_pieces(self) -> int:
        return sum(d.pieces for d in self.denominations)


@dataclass(frozen=True)
class Breakdown:
    as_of: datetime
    currencies: list[CurrencyBreakdown]


async def denomination_breakdown(
    *,
    principal: Principal,
    shop_ids: list[ObjectId] | None,
    machine_ids: list[ObjectId] | None,
    at: datetime | None,
) -> Breakdown:
    """Pieces per denomination summed over the machines in scope, per currency.

    Without `at`: the live inventory. With `at`: the inventory at the start of the UTC hour
    containing `at` (`as_of`), i.e. the live counts minus every movement since, taken from the
    hourly summaries (which never expire).
    """
    scope = principal.scope.narrowed(shop_ids=shop_ids, machine_ids=machine_ids)
    machines = {m.id: m for m in await list_machines(scope=scope)}
    pieces: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for state in await list_inventory_states(scope=scope, machine_ids=list(machines)):
        for slot, count in state["counts"].items():
            pieces[machines[state["_id"]].currency][slot] += count
    now = utcnow()
    as_of = now
    at = optional_instant("at", at)
    if at is not None and at < now:
        as_of = hour_of(at)
        for row in await run(Grain.HOUR, slot_flow_pipeline(scope, start=as_of)):
            machine = machines.get(row["_id"]["m"])
            if machine is None:
                continue
            moved = sum(FLOW_SIGN[t] * row[t] for t in TRANSACTION_TYPES)
            pieces[machine.currency][row["_id"]["k"]] -= moved
    result = []
    for currency in sorted(pieces):
        slots = sorted(pieces[currency], key=lambda s: (s[0] != "N", int(s[1:])))
        amounts = []
        for slot in slots:
            kind, denomination = parse_slot(slot)
            amounts.append(DenominationAmount(kind, denomination, pieces[currency][slot]))
        result.append(CurrencyBreakdown(currency, amounts))
    return Breakdown(as_of=as_of, currencies=result)
