"""`Machine.health`: the twin's sections with their age, freshness, and what needs attention.

A section is `stale` when what it says is older than the stale threshold: its own
`observed_at`, or a later heartbeat's (the devices push every change, so a heartbeat after a
report confirms nothing changed unseen). A machine that stops reporting therefore greys out
section by section, and a replayed backlog shows as old, not as current.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from auth.principal import Principal
from config import Settings
from models.health import Connectivity
from models.health_store import list_twins
from models.ledger_store import list_inventory_states
from models.machine import Machine
from models.org_store import get_organization, list_shops
from resolvers.health.codes import (
    COLLECTION_PURPOSES,
    ERROR_STATUSES,
    MODULE_ERROR_STATUSES,
    MachineStatus,
    ModuleStatus,
    UnitPurpose,
    UnitStatus,
)
from resolvers.health.freshness import Freshness, freshness_of
from resolvers.health.settings import EffectiveHealthSettings, effective_settings

# When a reason for attention starts counting (fleetHealth.attention, docs/health.md).
AGENT_BACKLOG_ATTENTION_SECONDS = 15 * 60
CLOCK_SKEW_ATTENTION_SECONDS = 120
DOOR_OPEN_ATTENTION_SECONDS = 10 * 60


class AttentionCode(StrEnum):
    NEVER_SEEN = "NEVER_SEEN"
    LATE = "LATE"
    OFFLINE = "OFFLINE"
    MACHINE_ERROR = "MACHINE_ERROR"
    MODULE_ERROR = "MODULE_ERROR"
    DEVICE_ERROR = "DEVICE_ERROR"
    COLLECTION_FULL = "COLLECTION_FULL"
    COLLECTION_NEAR_FULL = "COLLECTION_NEAR_FULL"
    UNIT_EMPTY = "UNIT_EMPTY"
    UNIT_MISSING = "UNIT_MISSING"
    DOOR_OPEN = "DOOR_OPEN"
    SEQ_GAP = "SEQ_GAP"
    AGENT_BACKLOG = "AGENT_BACKLOG"
    CLOCK_SKEW = "CLOCK_SKEW"


@dataclass(frozen=True)
class AttentionReason:
    code: AttentionCode
    message: str
    since: datetime | None = None


@dataclass
class MachineHealthView:
    machine: Machine
    connectivity: Connectivity
    connectivity_since: datetime | None
    freshness: Freshness
    status: dict[str, Any] | None = None
    modules: dict[str, Any] | None = None
    units: dict[str, Any] | None = None
    device_counts: dict[str, Any] | None = None
    firmware: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None
    suspect_notes: dict[str, Any] | None = None
    doors: list[dict[str, Any]] = field(default_factory=list)
    active_errors: list[dict[str, Any]] = field(default_factory=list)
    last_error: dict[str, Any] | None = None
    attention: list[AttentionReason] = field(default_factory=list)

    @property
    def machine_status(self) -> MachineStatus | None:
        return MachineStatus(self.status["status"]) if self.status else None


def _aged(
    entry: dict[str, Any], confirmed_at: datetime | None, now: datetime, stale_after: int
) -> dict[str, Any]:
    """An entry's value (a mapping, or a list under `items`) with its seq, times and `stale`."""
    value = entry["value"]
    out = dict(value) if isinstance(value, dict) else {"items": value}
    as_of = max(entry["observed_at"], confirmed_at) if confirmed_at else entry["observed_at"]
    out.update(
        seq=entry["seq"],
        observed_at=entry["observed_at"],
        received_at=entry["received_at"],
        stale=now - as_of > timedelta(seconds=stale_after),
    )
    return out


def _error_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry["value"],
        "active": entry["active"],
        "raised_at": entry["raised_at"],
        "cleared_at": entry["cleared_at"],
        "observed_at": entry["observed_at"],
    }


def health_view(
    machine: Machine,
    twin: dict[str, Any] | None,
    state: dict[str, Any] | None,
    health: EffectiveHealthSettings,
    now: datetime,
) -> MachineHealthView:
    """Everything `Machine.health` shows, from the stored twin and ledger state."""
    if machine.decommissioned_at is not None:
        connectivity, since = Connectivity.DECOMMISSIONED, machine.decommissioned_at
    elif twin is None:
        connectivity, since = Connectivity.NEVER_SEEN, None
    else:
        connectivity, since = Connectivity(twin["connectivity"]), twin["connectivity_since"]
    view = MachineHealthView(
        machine=machine,
        connectivity=connectivity,
        connectivity_since=since,
        freshness=freshness_of(twin, state, health, now),
    )
    if twin is not None:
        sections = twin["sections"]
        heartbeat = sections.get("heartbeat")
        confirmed = heartbeat["observed_at"] if heartbeat else None
        for name, attr in (
            ("status", "status"),
            ("modules", "modules"),
            ("units", "units"),
            ("device_counts", "device_counts"),
            ("firmware", "firmware"),
            ("heartbeat", "agent"),
            ("suspect_notes", "suspect_notes"),
        ):
            if name in sections:
                setattr(
                    view, attr, _aged(sections[name], confirmed, now, health.stale_after_seconds)
                )
        view.doors = [_aged(d, confirmed, now, health.stale_after_seconds) for d in twin["doors"]]
        errors = sorted(twin["errors"], key=lambda e: e["seq"])
        view.active_errors = [_error_view(e) for e in errors if e["active"]]
        raised = [e for e in errors if e["raised_at"] is not None]
        if raised:
            view.last_error = _error_view(max(raised, key=lambda e: e["raised_at"]))
    view.attention = attention_reasons(view, now)
    return view


def attention_reasons(view: MachineHealthView, now: datetime) -> list[AttentionReason]:
    """Why a machine needs someone to look at it (empty: it does not)."""
    reasons: list[AttentionReason] = []

    def add(code: AttentionCode, message: str, since: datetime | None = None) -> None:
        reasons.append(AttentionReason(code, message, since))

    if view.connectivity is Connectivity.DECOMMISSIONED:
        return reasons
    if view.connectivity in (Connectivity.LATE, Connectivity.OFFLINE, Connectivity.NEVER_SEEN):
        message = {
            Connectivity.LATE: "heartbeats are late",
            Connectivity.OFFLINE: "nothing heard from the local system for longer than the grace",
            Connectivity.NEVER_SEEN: "the local system has never reported",
        }[view.connectivity]
        add(AttentionCode(view.connectivity.value), message, view.connectivity_since)
    if view.status and MachineStatus(view.status["status"]) in ERROR_STATUSES:
        add(AttentionCode.MACHINE_ERROR, f"machine status {view.status['status']}")
    for module in (view.modules or {}).get("items", []):
        if ModuleStatus(module["status"]) in MODULE_ERROR_STATUSES:
            add(AttentionCode.MODULE_ERROR, f"{module['module']} is {module['status']}")
    for error in view.active_errors:
        add(
            AttentionCode.DEVICE_ERROR,
            f"{error['category']} {error['code']}: {error.get('message') or 'no message'}",
            error["raised_at"],
        )
    for unit in (view.units or {}).get("items", []):
        status, purpose = UnitStatus(unit["status"]), UnitPurpose(unit["purpose"])
        where = f"unit {unit['number']} ({purpose.value})"
        if purpose in COLLECTION_PURPOSES and status is UnitStatus.FULL:
            add(AttentionCode.COLLECTION_FULL, f"{where} is full")
        elif purpose in COLLECTION_PURPOSES and status is UnitStatus.NEAR_FULL:
            add(AttentionCode.COLLECTION_NEAR_FULL, f"{where} is nearly full")
        elif status is UnitStatus.MISSING:
            add(AttentionCode.UNIT_MISSING, f"{where} is missing")
        elif purpose not in COLLECTION_PURPOSES and status is UnitStatus.EMPTY:
            add(AttentionCode.UNIT_EMPTY, f"{where} is empty")
    for door in view.doors:
        open_for = now - door["observed_at"]
        if door["state"] in ("OPENED", "UNLOCKED") and open_for > timedelta(
            seconds=DOOR_OPEN_ATTENTION_SECONDS
        ):
            add(
                AttentionCode.DOOR_OPEN,
                f"door {door['door']} is {door['state']}",
                door["observed_at"],
            )
    fresh = view.freshness
    if fresh.open_gaps.count:
        add(
            AttentionCode.SEQ_GAP,
            f"{fresh.open_gaps.count} range(s) of transactions missing",
            fresh.open_gaps.oldest_open_since,
        )
    if (fresh.outbox_oldest_age_seconds or 0) > AGENT_BACKLOG_ATTENTION_SECONDS:
        add(
            AttentionCode.AGENT_BACKLOG,
            f"the local system holds unsent records {fresh.outbox_oldest_age_seconds} s old",
        )
    if fresh.clock_skew_seconds is not None and (
        abs(fresh.clock_skew_seconds) > CLOCK_SKEW_ATTENTION_SECONDS
    ):
        add(AttentionCode.CLOCK_SKEW, f"device clock off by {fresh.clock_skew_seconds:.0f} s")
    return reasons


async def health_for_machines(
    *, principal: Principal, machines: list[Machine], settings: Settings, now: datetime
) -> list[MachineHealthView]:
    """Health of `machines` (already in the caller's scope), in the same order."""
    scope = principal.scope
    ids = [m.id for m in machines]
    shop_ids = sorted({m.shop_id for m in machines})
    twins, states, org, shops = await asyncio.gather(
        list_twins(scope=scope, machine_ids=ids),
        list_inventory_states(scope=scope, machine_ids=ids),
        get_organization(scope=scope),
        list_shops(scope=scope, shop_ids=shop_ids),
    )
    twin_of = {t["_id"]: t for t in twins}
    state_of = {s["_id"]: s for s in states}
    shop_of = {s.id: s for s in shops}
    return [
        health_view(
            m,
            twin_of.get(m.id),
            state_of.get(m.id),
            effective_settings(settings, org, shop_of.get(m.shop_id)),
            now,
        )
        for m in machines
    ]
