"""`replenishmentForecast`: when each machine's slots cross their thresholds, and what to do.

Method (docs/analytics.md): the expected organic flow of a slot in a future hour is the mean
of its net pieces (deposits minus withdrawals) in the same local hour of the week over the
last `lookback_weeks` weeks of daily demand summaries (organic net pieces per slot and local
hour), counting only hours the machine existed.
Collections, replenishments and adjustments are interventions, not demand, and are left out.
The count is projected hour by hour from the live inventory; threshold crossings are
interpolated within the hour.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from auth.principal import Principal
from models.analytics_store import Grain, run, summaries_in_scope
from models.currencies import CashKind, get_currency, parse_slot
from models.ledger_store import list_inventory_states
from models.machine import Machine, SlotLimits
from models.machine_store import list_machines
from models.org_store import list_shops
from models.organization import utcnow
from models.scope import Scope
from models.summary_store import hour_of
from models.timezones import zone_info
from resolvers.analytics.errors import AnalyticsErrorCode
from resolvers.errors import ServiceError
from resolvers.fleet.inventory import FillStatus, fill_status

MAX_HORIZON_HOURS = 168
LOOKBACK_WEEKS = 4
HOUR = timedelta(hours=1)


class Action(StrEnum):
    NONE = "NONE"
    REPLENISH = "REPLENISH"
    COLLECT = "COLLECT"


class Threshold(StrEnum):
    NEAR_EMPTY = "NEAR_EMPTY"
    EMPTY = "EMPTY"
    NEAR_FULL = "NEAR_FULL"
    FULL = "FULL"


# Machines forecast between two yields to the event loop.
YIELD_EVERY = 50


@dataclass
class SlotForecast:
    """One denomination of one machine. `hours_to[t]` is None when `t` is not reached within
    the horizon, 0 when already reached. `quantity` is the pieces to bring (REPLENISH) or take
    away (COLLECT) at `deadline` to return the slot to the middle of its normal band."""

    kind: CashKind
    denomination: int
    count: int
    limits: SlotLimits
    status: FillStatus
    expected_net_per_hour: float
    hours_to: dict[Threshold, float | None]
    action: Action = Action.NONE
    quantity: int = 0
    deadline: datetime | None = None


@dataclass
class MachineForecast:
    machine: Machine
    slots: list[SlotForecast] = field(default_factory=list)

    @property
    def next_deadline(self) -> datetime | None:
        deadlines = [s.deadline for s in self.slots if s.deadline is not None]
        return min(deadlines) if deadlines else None


@dataclass
class Forecast:
    generated_at: datetime
    horizon_hours: int
    lookback_weeks: int
    machines: list[MachineForecast]


def hour_of_week(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


def demand_dates(
    start: datetime, end: datetime, tz: ZoneInfo, weekdays: set[int]
) -> list[tuple[datetime, datetime]]:
    """Runs `[lo, hi)` of consecutive local-date keys (dates at 00:00 UTC) touched by
    `[start, end)` in `tz` whose weekday is in `weekdays`: the daily demand documents that
    can hold a wanted hour of week."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    runs: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        if day.weekday() in weekdays:
            key = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if runs and runs[-1][1] == key:
                runs[-1] = (runs[-1][0], key + timedelta(days=1))
            else:
                runs.append((key, key + timedelta(days=1)))
        day += timedelta(days=1)
    return runs


def wanted_hours(
    runs: list[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    hours_of_week: set[int],
) -> dict[datetime, dict[str, tuple[int, datetime]]]:
    """local-date key -> local hour as stored (`"13"`) -> (hour of week, its instant), for
    every local hour in the runs that lies in `[start, end)` and has a wanted hour of week."""
    wanted: dict[datetime, dict[str, tuple[int, datetime]]] = defaultdict(dict)
    for lo, hi in runs:
        day = lo
        while day < hi:
            for hour in range(24):
                how = day.weekday() * 24 + hour
                at = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)
                exists = at.astimezone(tz).hour == hour  # not skipped by a DST change
                if how in hours_of_week and exists and start <= at < end:
                    wanted[day][str(hour)] = (how, at)
            day += timedelta(days=1)
    return wanted


def project(
    count: int, rates: list[float], limits: SlotLimits
) -> tuple[dict[Threshold, float | None], list[float]]:
    """Hours until each threshold is crossed, and the projected count after every hour."""
    levels = {
        Threshold.NEAR_EMPTY: (limits.near_empty, -1),
        Threshold.EMPTY: (0, -1),
        Threshold.NEAR_FULL: (limits.near_full, 1),
        Threshold.FULL: (limits.capacity, 1),
    }

    def reached(value: float, level: int, direction: int) -> bool:
        return value <= level if direction < 0 else value >= level

    hours: dict[Threshold, float | None] = {
        t: (0.0 if reached(count, lvl, d) else None) for t, (lvl, d) in levels.items()
    }
    if not any(rates):  # nothing moves: no crossing ahead, the count stays
        return hours, [float(count)] * len(rates)
    trajectory = []
    current = float(count)
    for k, rate in enumerate(rates):
        nxt = current + rate
        for t, (lvl, d) in levels.items():
            if hours[t] is None and reached(nxt, lvl, d):
                hours[t] = k + (lvl - current) / rate
        trajectory.append(nxt)
        current = nxt
    return hours, trajectory


def recommend(slot: SlotForecast, trajectory: list[float], now: datetime) -> None:
    """Set the action, quantity and deadline of `slot` from its projected crossings.

    A slot without any learned flow gets no action even when it sits beyond a threshold
    (an unused denomination is not a cash run).
    """
    if not any(trajectory[i] != slot.count for i in range(len(trajectory))):
        return  # no learned demand: nothing predicts that cash is needed or will pile up
    target = (slot.limits.near_empty + slot.limits.near_full) / 2
    empty_at = slot.hours_to[Threshold.NEAR_EMPTY]
    full_at = slot.hours_to[Threshold.NEAR_FULL]
    candidates = [(h, a) for h, a in ((empty_at, Action.REPLENISH), (full_at, Action.COLLECT))]
    due = sorted((h, a) for h, a in candidates if h is not None)
    if not due:
        return
    hours, action = due[0]
    level = slot.count if hours == 0 else trajectory[min(math.ceil(hours), len(trajectory)) - 1]
    gap = target - level if action is Action.REPLENISH else level - target
    slot.action = action
    slot.quantity = max(1, math.ceil(gap))
    slot.deadline = now + timedelta(hours=hours)


History = dict[ObjectId, dict[str, dict[int, int]]]


Hit = tuple[str, int, datetime] | None  # (slot, hour of week, instant) of a demand entry


class _DemandFold:
    """Adds daily demand documents into per machine, slot and hour-of-week sums.

    Entry keys repeat across machines (`"N1000@13"`), so what a key means on a date (its
    slot and hour of week, or nothing when the hour is not wanted) is worked out once per
    date and key.
    """

    def __init__(
        self,
        wanted: dict[datetime, dict[str, tuple[int, datetime]]],
        history: History,
        first_seen: dict[ObjectId, datetime],
        end: datetime,
    ) -> None:
        self.wanted, self.history, self.first_seen, self.end = wanted, history, first_seen, end
        self.meanings: dict[datetime, dict[str, Hit]] = defaultdict(dict)

    def _meaning(self, day: datetime, key: str) -> Hit:
        slot_key, _, hour = key.partition("@")
        hit = self.wanted.get(day, {}).get(hour)
        meaning = None if hit is None else (slot_key, hit[0], hit[1])
        self.meanings[day][key] = meaning
        return meaning

    def add(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            machine_id, day = doc["machine_id"], doc["bucket"]
            meanings = self.meanings[day]
            machine_history = self.history[machine_id]
            first = self.first_seen.get(machine_id, self.end)
            for key, pieces in doc.get("p", {}).items():
                meaning = meanings[key] if key in meanings else self._meaning(day, key)
                if meaning is None:
                    continue
                slot_key, how, at = meaning
                slot_history = machine_history.get(slot_key)
                if slot_history is None:
                    slot_history = machine_history[slot_key] = {}
                slot_history[how] = slot_history.get(how, 0) + pieces
                if at < first:
                    first = at
            if first < self.end:
                self.first_seen[machine_id] = first


async def learned_history(
    scope: Scope,
    zones: dict[ObjectId, str],
    future: list[datetime],
    start: datetime,
    end: datetime,
) -> tuple[History, dict[ObjectId, datetime]]:
    """Net organic pieces per machine, slot and hour of week in `[start, end)`, for the hours
    of week of `future` only (in each shop's zone); and per machine the first such hour with
    a movement."""
    history: History = defaultdict(dict)
    first_seen: dict[ObjectId, datetime] = {}
    for tz_name in sorted(set(zones.values())):
        tz = zone_info(tz_name)
        shops = [s for s, z in zones.items() if z == tz_name]
        hows = {hour_of_week(at, tz) for at in future}
        # Narrow to the zone's shops only when the scope spans several zones.
        zone_scope = scope if len(shops) == len(zones) else scope.narrowed(shop_ids=shops)
        runs = demand_dates(start, end, tz, {h // 24 for h in hows})
        fold = _DemandFold(wanted_hours(runs, start, end, tz, hows), history, first_seen, end)
        # One index-backed range per run of wanted weekdays (disjoint, so sums add up), all
        # sent at once: the database decodes the next run while this process folds one.
        reads = [
            run(Grain.DEMAND, summaries_in_scope(zone_scope, start=lo, end=hi)) for lo, hi in runs
        ]
        for done in asyncio.as_completed(reads):
            fold.add(await done)
    return history, first_seen


async def replenishment_forecast(
    *, principal: Principal, shop_ids: list[ObjectId] | None, horizon_hours: int
) -> Forecast:
    """A forecast for every machine and denomination in scope over `horizon_hours`."""
    if not 1 <= horizon_hours <= MAX_HORIZON_HOURS:
        raise ServiceError.of(
            AnalyticsErrorCode.BAD_HORIZON,
            f"horizonHours must be between 1 and {MAX_HORIZON_HOURS}",
            field="horizonHours",
        )
    return await forecast_for_scope(
        scope=principal.scope.narrowed(shop_ids=shop_ids),
        horizon_hours=horizon_hours,
        now=utcnow(),
    )


async def forecast_for_scope(*, scope: Scope, horizon_hours: int, now: datetime) -> Forecast:
    """The forecast of every machine in `scope` (also run by the alert evaluator)."""
    end = hour_of(now)
    start = end - timedelta(weeks=LOOKBACK_WEEKS)
    machines, state_docs, shops = await asyncio.gather(
        list_machines(scope=scope), list_inventory_states(scope=scope), list_shops(scope=scope)
    )
    states = {s["_id"]: s for s in state_docs}
    zones = {s.id: s.timezone for s in shops}
    future = [now + k * HOUR for k in range(horizon_hours)]
    history, first_seen = await learned_history(scope, zones, future, start, end)
    # How often each local hour of week occurs among the window's hours, from an offset on.
    hours = int((end - start) / HOUR)
    past_hows: dict[str, list[int]] = {}
    weights_cache: dict[tuple[str, int], list[float]] = {}
    future_hows = {
        z: [hour_of_week(at, zone_info(z)) for at in future] for z in {*zones.values(), "UTC"}
    }
    no_flow = [0.0] * horizon_hours
    currency_slots: dict[str, list[str]] = {}
    result = []
    for index, machine in enumerate(machines):
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a large fleet's forecast must not stall other requests
        tz_name = zones.get(machine.shop_id, "UTC")
        tz = zone_info(tz_name)
        # History may be loaded for a machine registered later: observed since the earlier
        # of its registration and its first movement in the window.
        since = max(start, hour_of(min(machine.created_at, first_seen.get(machine.id, end))))
        offset = int((since - start) / HOUR)
        # Future hour k's rate is the history of its hour of week / how often it was seen.
        weights = weights_cache.get((tz_name, offset))
        if weights is None:
            if tz_name not in past_hows:
                past_hows[tz_name] = [hour_of_week(start + k * HOUR, tz) for k in range(hours)]
            seen = Counter(past_hows[tz_name][offset:])
            weights = weights_cache[(tz_name, offset)] = [
                1 / seen[h] if seen[h] else 0.0 for h in future_hows[tz_name]
            ]
        counts = states.get(machine.id, {}).get("counts", {})
        if machine.currency not in currency_slots:
            currency = get_currency(machine.currency)
            currency_slots[machine.currency] = currency.slots() if currency else []
        known = currency_slots[machine.currency]
        slots = known + sorted(k for k in counts if k not in known)
        machine_history = history.get(machine.id, {})
        forecast = MachineForecast(machine=machine)
        for slot_key in slots:
            limits = machine.limits.get(slot_key) or SlotLimits(
                capacity=1, near_empty=0, near_full=1
            )
            slot_history = machine_history.get(slot_key)
            rates = (
                [
                    slot_history.get(h, 0) * w
                    for h, w in zip(future_hows[tz_name], weights, strict=True)
                ]
                if slot_history
                else no_flow
            )
            count = counts.get(slot_key, 0)
            hours_to, trajectory = project(count, rates, limits)
            kind, denomination = parse_slot(slot_key)
            slot = SlotForecast(
                kind=kind,
                denomination=denomination,
                count=count,
                limits=limits,
                status=fill_status(count, limits),
                expected_net_per_hour=sum(rates) / len(rates),
                hours_to=hours_to,
            )
            recommend(slot, trajectory, now)
            forecast.slots.append(slot)
        result.append(forecast)
    return Forecast(
        generated_at=now,
        horizon_hours=horizon_hours,
        lookback_weeks=LOOKBACK_WEEKS,
        machines=result,
    )
