"""Which alert conditions hold for one machine at one instant (pure).

Input: what is stored about the machine (twin, ledger state, its shop, planned collections,
the forecast); output: the conditions that hold, keyed by (rule, subject), and the earliest
instant at which one could start holding through time alone (a door open for too long, a gap
open too long), so the evaluator looks again then without polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.alerts import AlertRule, PlannedCollection, Severity
from models.currencies import slot_key
from models.health import Connectivity
from models.machine import Machine
from models.organization import Shop
from resolvers.alerts.rules import RuleSettings
from resolvers.fleet.inventory import FillStatus, fill_status
from resolvers.fleet.opening_hours import is_open
from resolvers.health.codes import (
    COLLECTION_PURPOSES,
    ERROR_STATUSES,
    ErrorCategory,
    MachineStatus,
    ModuleStatus,
    UnitPurpose,
    UnitStatus,
)
from resolvers.health.freshness import freshness_of
from resolvers.health.settings import EffectiveHealthSettings

R = AlertRule
JAMS = frozenset({ErrorCategory.NOTE_JAM, ErrorCategory.COIN_JAM})
# Faults a more specific rule reports (DEVICE_ERROR stays quiet about them).
SPECIFIC = JAMS | {ErrorCategory.COMMUNICATION_ERROR, ErrorCategory.SUSPECT_NOTE}
DEVICE_ERROR_MODULES = frozenset(
    {ModuleStatus.ERROR, ModuleStatus.WAITING_FOR_RESET, ModuleStatus.CONFIGURATION_ERROR}
)
DISPENSING = frozenset({UnitPurpose.RECYCLE, UnitPurpose.COIN_HOPPER})
OPEN_DOOR = frozenset({"OPENED", "UNLOCKED"})


@dataclass(frozen=True)
class Condition:
    """A condition that holds. `occurrence` changes when the same condition is reported
    anew (another suspect-note count), which counts as one more occurrence."""

    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    occurrence: Any = None


@dataclass
class MachineFacts:
    machine: Machine
    shop: Shop | None
    twin: dict[str, Any] | None
    state: dict[str, Any] | None
    health: EffectiveHealthSettings
    collections: list[PlannedCollection] = field(default_factory=list)
    # slot key -> hours until EMPTY / FULL (None: not within the forecast's horizon)
    forecast: dict[str, tuple[float | None, float | None]] | None = None


@dataclass
class Assessment:
    conditions: dict[tuple[AlertRule, str], Condition] = field(default_factory=dict)
    next_change_at: datetime | None = None

    def holds(self, rule: AlertRule, subject: str, condition: Condition) -> None:
        self.conditions.setdefault((rule, subject), condition)

    def look_again_at(self, at: datetime) -> None:
        if self.next_change_at is None or at < self.next_change_at:
            self.next_change_at = at


def _in_collection(facts: MachineFacts, at: datetime) -> bool:
    return any(c.starts_at <= at < c.ends_at for c in facts.collections)


def _errors(facts: MachineFacts, out: Assessment, sections: dict[str, Any]) -> None:
    twin = facts.twin or {}
    active = [e["value"] for e in twin.get("errors", []) if e["active"]]
    categories = {ErrorCategory(e["category"]) for e in active}
    status = sections.get("status", {}).get("value", {}).get("status")
    modules = sections.get("modules", {}).get("value", [])
    for error in active:
        category = ErrorCategory(error["category"])
        module = error.get("module") or "MACHINE"
        if category in JAMS:
            out.holds(R.NOTE_JAM, module, Condition(f"{category.value} on {module}", error))
        elif category is ErrorCategory.COMMUNICATION_ERROR:
            out.holds(
                R.COMMUNICATION_ERROR, module, Condition(f"{error['code']} on {module}", error)
            )
    for m in modules:
        if ModuleStatus(m["status"]) is ModuleStatus.COMMUNICATION_ERROR:
            out.holds(
                R.COMMUNICATION_ERROR, m["module"], Condition(f"{m['module']} not reachable", m)
            )
    general = [e for e in active if ErrorCategory(e["category"]) not in SPECIFIC]
    in_error = (status is not None and MachineStatus(status) in ERROR_STATUSES) or any(
        ModuleStatus(m["status"]) in DEVICE_ERROR_MODULES for m in modules
    )
    if general or (in_error and not categories & SPECIFIC):
        summary = (
            f"{general[0]['category']} {general[0]['code']}" if general else f"status {status}"
        )
        out.holds(R.DEVICE_ERROR, "", Condition(summary, {"status": status, "errors": general}))


def _units(facts: MachineFacts, out: Assessment, sections: dict[str, Any], now: datetime) -> None:
    for unit in sections.get("units", {}).get("value", []):
        status, purpose = UnitStatus(unit["status"]), UnitPurpose(unit["purpose"])
        where = f"unit {unit['number']}"
        if purpose in COLLECTION_PURPOSES and status is UnitStatus.FULL:
            out.holds(R.COLLECTION_FULL, where, Condition(f"{where} ({purpose.value}) full", unit))
        elif purpose in COLLECTION_PURPOSES and status is UnitStatus.NEAR_FULL:
            out.holds(
                R.COLLECTION_NEAR_FULL,
                where,
                Condition(f"{where} ({purpose.value}) near full", unit),
            )
        if status is UnitStatus.MISSING and not _in_collection(facts, now):
            out.holds(R.UNIT_MISSING, where, Condition(f"{where} missing", unit))
        if purpose in DISPENSING and status in (UnitStatus.EMPTY, UnitStatus.NEAR_EMPTY):
            rule = R.DENOMINATION_EMPTY if status is UnitStatus.EMPTY else R.DENOMINATION_NEAR_EMPTY
            subjects = [slot_key(p["kind"], p["denomination"]) for p in unit["pieces"]] or [where]
            for subject in subjects:
                out.holds(rule, subject, Condition(f"{subject} {status.value.lower()}", unit))


def _ledger(facts: MachineFacts, out: Assessment, now: datetime, rules) -> None:
    state = facts.state or {}
    counts = state.get("counts", {})
    negative = {slot: count for slot, count in sorted(counts.items()) if count < 0}
    flagged = state.get("last_negative")
    until = (
        flagged["received_at"] + timedelta(seconds=rules[R.NEGATIVE_INVENTORY].threshold or 0)
        if flagged
        else None
    )
    if negative or (until is not None and now < until):
        where = ", ".join(f"{slot} at {count}" for slot, count in negative.items())
        summary = f"records disagree: {where}" if where else "a record took a count below zero"
        detail = {"counts": negative, "flagged_seq": flagged["seq"] if flagged else None}
        occurrence = flagged["seq"] if flagged else None
        out.holds(R.NEGATIVE_INVENTORY, "", Condition(summary, detail, occurrence=occurrence))
        if until is not None and now < until:
            out.look_again_at(until)
    for slot in state.get("dispensed_slots", []):
        count, limits = counts.get(slot, 0), facts.machine.limits.get(slot)
        if limits is None:
            continue
        status = fill_status(count, limits)
        if status is FillStatus.EMPTY:
            out.holds(R.DENOMINATION_EMPTY, slot, Condition(f"{slot} empty", {"count": count}))
        elif status is FillStatus.NEAR_EMPTY:
            out.holds(R.DENOMINATION_NEAR_EMPTY, slot, Condition(f"{slot} low", {"count": count}))
    gaps = state.get("open_gaps") or []
    limit = rules[R.SEQ_GAP_OPEN].threshold or 0
    if gaps:
        lo, hi, since = gaps[0]
        due = since + timedelta(seconds=limit)
        if now >= due:
            detail = {"from": lo, "to": hi, "open_since": since.isoformat(), "ranges": len(gaps)}
            out.holds(R.SEQ_GAP_OPEN, "", Condition(f"seqs {lo}-{hi} missing", detail))
        else:
            out.look_again_at(due)


def _doors(facts: MachineFacts, out: Assessment, now: datetime, rules) -> None:
    shop = facts.shop
    limit = timedelta(seconds=rules[R.DOOR_OPEN_TOO_LONG].threshold or 0)
    for door in (facts.twin or {}).get("doors", []):
        value = door["value"]
        if value["state"] not in OPEN_DOOR:
            continue
        opened = door["observed_at"]
        name = value["door"]
        planned = _in_collection(facts, opened) or _in_collection(facts, now)
        if (
            shop is not None
            and not planned
            and not is_open(shop.opening_hours, shop.timezone, opened)
        ):
            out.holds(R.DOOR_OUTSIDE_HOURS, name, Condition(f"{name} opened outside hours", value))
        if planned:
            continue
        if now - opened >= limit:
            out.holds(R.DOOR_OPEN_TOO_LONG, name, Condition(f"{name} open since {opened}", value))
        else:
            out.look_again_at(opened + limit)


def _agent(facts: MachineFacts, out: Assessment, now: datetime, rules) -> None:
    twin = facts.twin or {}
    sections = twin.get("sections", {})
    heartbeat = sections.get("heartbeat")
    if heartbeat is not None:
        agent = heartbeat["value"]
        age = agent.get("outbox_oldest_age_seconds")
        if agent.get("outbox_backlog") and age is not None:
            limit = rules[R.AGENT_BACKLOG].threshold or 0
            age_now = age + (now - heartbeat["received_at"]).total_seconds()
            if age_now > limit:
                out.holds(
                    R.AGENT_BACKLOG, "", Condition(f"unsent records {age_now:.0f} s old", agent)
                )
            else:
                out.look_again_at(now + timedelta(seconds=limit - age_now + 1))
    skew = freshness_of(twin, facts.state, facts.health, now).clock_skew_seconds
    if skew is not None and abs(skew) > (rules[R.CLOCK_SKEW].threshold or 0):
        out.holds(R.CLOCK_SKEW, "", Condition(f"device clock off by {skew:.0f} s", {"skew": skew}))
    notes = sections.get("suspect_notes")
    if notes is not None and (notes["value"]["category2"] or notes["value"]["category3"]):
        until = notes["received_at"] + timedelta(seconds=rules[R.SUSPECT_NOTES].threshold or 0)
        if now < until:
            value = notes["value"]
            summary = f"{value['category2']} suspected counterfeit, {value['category3']} unclear"
            out.holds(R.SUSPECT_NOTES, "", Condition(summary, value, occurrence=notes["seq"]))
            out.look_again_at(until)


def _forecast(facts: MachineFacts, out: Assessment, rules) -> None:
    horizon_hours = (rules[R.EMPTY_SOON].threshold or 0) / 3600
    for slot, (to_empty, to_full) in sorted((facts.forecast or {}).items()):
        if to_empty is not None and to_empty <= horizon_hours:
            detail = {"slot": slot, "hours": round(to_empty, 1), "direction": "EMPTY"}
            out.holds(R.EMPTY_SOON, slot, Condition(f"{slot} empty in {to_empty:.1f} h", detail))
        elif to_full is not None and to_full <= horizon_hours:
            detail = {"slot": slot, "hours": round(to_full, 1), "direction": "FULL"}
            out.holds(R.EMPTY_SOON, slot, Condition(f"{slot} full in {to_full:.1f} h", detail))


def assess(facts: MachineFacts, rules: dict[AlertRule, RuleSettings], now: datetime) -> Assessment:
    """The conditions that hold for the machine at `now` (none once decommissioned)."""
    out = Assessment()
    if facts.machine.decommissioned_at is not None:
        return out
    twin = facts.twin or {}
    if twin.get("connectivity") == Connectivity.OFFLINE.value:
        shop = facts.shop
        during_hours = shop is None or is_open(shop.opening_hours, shop.timezone, now)
        out.holds(
            R.OFFLINE,
            "",
            Condition(
                "nothing heard from the local system",
                {"since": twin.get("connectivity_since")},
                severity=None if during_hours else Severity.INFO,
            ),
        )
    sections = twin.get("sections", {})
    _errors(facts, out, sections)
    _units(facts, out, sections, now)
    _ledger(facts, out, now, rules)
    _doors(facts, out, now, rules)
    _agent(facts, out, now, rules)
    _forecast(facts, out, rules)
    return out
