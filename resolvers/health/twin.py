"""Folding telemetry messages onto a machine's twin (pure).

Rules (docs/health.md):
- each section, door and error keeps the `seq` of the message that set it; a message whose
  `seq` is not higher never overwrites it (a late replay is logged, counted `stale`, and does
  not move the twin backwards);
- every message, current or stale, proves the link is up: `last_seen_at` moves to the
  server's receive time and connectivity becomes LIVE (unless the machine is decommissioned);
- each change a user cares about becomes a typed event (`models.health.MachineEventKind`),
  numbered per machine from the twin's `event_count`;
- a change makes the twin due for the alert evaluator (`alerts_due_at`) unless it is a
  heartbeat that cannot change which alert conditions hold (`alerts_may_change`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.health import Connectivity, MachineEventKind, TelemetryKind
from models.machine import Machine
from resolvers.health.connectivity import Thresholds, next_check_at
from resolvers.health.freshness import heartbeat_skew_seconds
from resolvers.health.messages import ValidMessage

# Cleared errors kept on the twin (their seq stops a late replay from raising them again).
MAX_CLEARED_ERRORS = 20
MAX_DOORS = 64
# A heartbeat alone changes alert conditions only through the agent's backlog and the device
# clock's skew (resolvers/alerts/conditions.py). A skew within this drift of the one last
# looked at, without a backlog, does not wake the alert evaluator ...
SKEW_DRIFT_SECONDS = 1.0
# ... unless the twin was last looked at this long ago (a bound on what a rule that reads
# more of the heartbeat could miss).
REASSESS_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class MachineEvent:
    """A typed change of one machine: `at` is when it happened (the device's clock for
    reported changes, the threshold instant for connectivity)."""

    kind: MachineEventKind
    at: datetime
    detail: dict[str, Any]


@dataclass
class TwinChange:
    """The twin after the messages, which of them changed it, and the events they caused."""

    twin: dict[str, Any]
    applied: set[int] = field(default_factory=set)
    events: list[MachineEvent] = field(default_factory=list)


def new_twin(machine: Machine, thresholds: Thresholds) -> dict[str, Any]:
    """The twin of a machine nothing has been heard from."""
    return {
        "_id": machine.id,
        "org_id": machine.org_id,
        "shop_id": machine.shop_id,
        "sections": {},
        "doors": [],
        "errors": [],
        "last_seen_at": None,
        "last_message_at": None,
        "last_batch_at": None,
        "connectivity": Connectivity.NEVER_SEEN.value,
        "connectivity_since": None,
        "next_check_at": None,
        "late_after_seconds": thresholds.late_after_seconds,
        "offline_after_seconds": thresholds.offline_after_seconds,
        "alerts_due_at": None,
        "alerts_claim": None,
        "alerts_marked_at": None,
        "alerts_skew_seconds": None,
        "logged_seq": None,  # the highest seq in the machine's telemetry log
        "event_count": 0,
        "version": 0,
    }


def _entry(msg: ValidMessage, value: Any, received_at: datetime) -> dict[str, Any]:
    return {
        "value": value,
        "seq": msg.seq,
        "event_id": msg.event_id,
        "observed_at": msg.observed_at,
        "received_at": received_at,
    }


def _newer(entry: dict[str, Any] | None, msg: ValidMessage) -> bool:
    return entry is None or msg.seq > entry["seq"]


class _Fold:
    def __init__(self, twin: dict[str, Any], received_at: datetime) -> None:
        self.twin = copy.deepcopy(twin)
        self.received_at = received_at
        self.change = TwinChange(self.twin)

    def event(self, kind: MachineEventKind, at: datetime, **detail: Any) -> None:
        self.change.events.append(MachineEvent(kind, at, detail))

    def section(self, name: str, msg: ValidMessage, value: Any) -> Any | None:
        """Set section `name` if `msg` is newer; returns the previous value (None if unset),
        or raises _Stale."""
        sections = self.twin["sections"]
        current = sections.get(name)
        if not _newer(current, msg):
            raise _Stale
        sections[name] = _entry(msg, value, self.received_at)
        return current["value"] if current else None

    def apply(self, msg: ValidMessage) -> None:
        try:
            _APPLY[msg.kind](self, msg)
        except _Stale:
            return
        self.change.applied.add(msg.index)


class _Stale(Exception):
    """The message is not newer than what the twin holds."""


def _heartbeat(fold: _Fold, msg: ValidMessage) -> None:
    fold.section("heartbeat", msg, msg.body)


def _status(fold: _Fold, msg: ValidMessage) -> None:
    body = msg.body
    previous = fold.section("status", msg, {"status": body["status"], "code": body["code"]})
    old_modules = fold.section("modules", msg, body["modules"])
    status_changed = previous is None or previous["status"] != body["status"]

    def by_number(modules: list[dict[str, Any]] | None) -> dict[int, str]:
        return {m["module_number"]: m["status"] for m in modules or []}

    if status_changed or by_number(old_modules) != by_number(body["modules"]):
        fold.event(
            MachineEventKind.STATUS_CHANGED,
            msg.observed_at,
            previous=previous["status"] if previous else None,
            status=body["status"],
            code=body["code"],
            modules=body["modules"],
        )


def _units(fold: _Fold, msg: ValidMessage) -> None:
    previous = fold.section("units", msg, msg.body["units"]) or []
    before = {u["number"]: u["status"] for u in previous}
    for unit in msg.body["units"]:
        if before.get(unit["number"]) != unit["status"]:
            fold.event(
                MachineEventKind.UNIT_STATUS_CHANGED,
                msg.observed_at,
                unit=unit["number"],
                purpose=unit["purpose"],
                previous=before.get(unit["number"]),
                status=unit["status"],
            )


def _device_counts(fold: _Fold, msg: ValidMessage) -> None:
    fold.section("device_counts", msg, msg.body)


def _firmware(fold: _Fold, msg: ValidMessage) -> None:
    fold.section("firmware", msg, msg.body["modules"])


def _suspect_notes(fold: _Fold, msg: ValidMessage) -> None:
    fold.section("suspect_notes", msg, msg.body)
    if msg.body["category2"] or msg.body["category3"]:
        fold.event(MachineEventKind.SUSPECT_NOTES_COUNTED, msg.observed_at, **msg.body)


def _error_key(body: dict[str, Any]) -> str:
    return f"{body['module_number']}:{body['code']}"


def _error(fold: _Fold, msg: ValidMessage) -> None:
    raised = msg.kind is TelemetryKind.ERROR
    errors: list[dict[str, Any]] = fold.twin["errors"]
    key = _error_key(msg.body)
    current = next((e for e in errors if e["key"] == key), None)
    if not _newer(current, msg):
        raise _Stale
    was_active = bool(current and current["active"])
    # A clear keeps what the raise reported (code, message, module) and when it was raised.
    value = current["value"] if current is not None and not raised else msg.body
    entry = _entry(msg, value, fold.received_at)
    if raised:
        raised_at = current["raised_at"] if was_active and current else msg.observed_at
    else:
        raised_at = current["raised_at"] if current else None
    entry.update(
        key=key,
        active=raised,
        raised_at=raised_at,
        cleared_at=None if raised else msg.observed_at,
    )
    if current is not None:
        errors.remove(current)
    errors.append(entry)
    cleared = [e for e in errors if not e["active"]]
    for old in sorted(cleared, key=lambda e: e["seq"])[:-MAX_CLEARED_ERRORS]:
        errors.remove(old)
    if raised and not was_active:
        fold.event(MachineEventKind.ERROR_RAISED, msg.observed_at, **msg.body)
    elif not raised and was_active:
        fold.event(MachineEventKind.ERROR_CLEARED, msg.observed_at, **msg.body)


def _door(fold: _Fold, msg: ValidMessage) -> None:
    doors: list[dict[str, Any]] = fold.twin["doors"]
    name = msg.body["door"]
    current = next((d for d in doors if d["value"]["door"] == name), None)
    if not _newer(current, msg):
        raise _Stale
    if current is not None:
        doors.remove(current)
    elif len(doors) >= MAX_DOORS:
        doors.remove(min(doors, key=lambda d: d["seq"]))
    doors.append(_entry(msg, msg.body, fold.received_at))
    previous = current["value"]["state"] if current else None
    if previous != msg.body["state"]:
        fold.event(MachineEventKind.DOOR_CHANGED, msg.observed_at, previous=previous, **msg.body)


_APPLY = {
    TelemetryKind.HEARTBEAT: _heartbeat,
    TelemetryKind.STATUS: _status,
    TelemetryKind.UNITS: _units,
    TelemetryKind.DEVICE_COUNTS: _device_counts,
    TelemetryKind.ERROR: _error,
    TelemetryKind.ERROR_CLEARED: _error,
    TelemetryKind.DOOR: _door,
    TelemetryKind.SUSPECT_NOTES: _suspect_notes,
    TelemetryKind.FIRMWARE: _firmware,
}


def thresholds_of(twin: dict[str, Any]) -> Thresholds:
    """The connectivity thresholds `twin` holds (settings changes retime every twin they
    cover, resolvers/health/lifecycle.py, so these are the ones in force)."""
    return Thresholds(twin["late_after_seconds"], twin["offline_after_seconds"])


def seen(twin: dict[str, Any], at: datetime, thresholds: Thresholds) -> MachineEvent | None:
    """Record that the machine's local system was heard from at `at` (in place): LIVE again
    unless decommissioned; returns the CONNECTIVITY_CHANGED event when the state changed."""
    if twin["last_seen_at"] is None or at > twin["last_seen_at"]:
        twin["last_seen_at"] = at
    twin["late_after_seconds"] = thresholds.late_after_seconds
    twin["offline_after_seconds"] = thresholds.offline_after_seconds
    previous = Connectivity(twin["connectivity"])
    if previous is Connectivity.DECOMMISSIONED:
        return None
    twin["next_check_at"] = next_check_at(Connectivity.LIVE, twin["last_seen_at"], thresholds)
    if previous is Connectivity.LIVE:
        return None
    twin["connectivity"] = Connectivity.LIVE.value
    twin["connectivity_since"] = at
    return MachineEvent(
        MachineEventKind.CONNECTIVITY_CHANGED,
        at,
        {"previous": previous.value, "connectivity": Connectivity.LIVE.value},
    )


def fold_messages(
    twin: dict[str, Any],
    messages: list[ValidMessage],
    *,
    received_at: datetime,
    thresholds: Thresholds,
) -> TwinChange:
    """`twin` with `messages` applied in seq order (the input is not modified)."""
    fold = _Fold(twin, received_at)
    reconnected = seen(fold.twin, received_at, thresholds) if messages else None
    if reconnected is not None:
        fold.change.events.append(reconnected)
    for msg in sorted(messages, key=lambda m: (m.seq, m.index)):
        fold.apply(msg)
    if messages:
        fold.twin["last_message_at"] = received_at
    return fold.change


def _skew(twin: dict[str, Any]) -> float | None:
    heartbeat = twin["sections"].get("heartbeat")
    return None if heartbeat is None else heartbeat_skew_seconds(heartbeat)


def alerts_may_change(before: dict[str, Any], after: dict[str, Any], now: datetime) -> bool:
    """Whether the change from twin `before` to `after` may change which alert conditions
    hold: anything but a heartbeat changed (a section, a door, an error, connectivity), the
    agent reports or reported a backlog, the clock skew drifted `SKEW_DRIFT_SECONDS` from
    the one last marked, or the twin was last marked `REASSESS_AFTER` ago (or never)."""
    marked_at = before.get("alerts_marked_at")
    if marked_at is None or now - marked_at >= REASSESS_AFTER:
        return True
    keys = (before.keys() | after.keys()) - _HEARTBEAT_ONLY_KEYS
    if any(before.get(k) != after.get(k) for k in keys):
        return True
    was, now_sections = before["sections"], after["sections"]
    if {k: v for k, v in was.items() if k != "heartbeat"} != {
        k: v for k, v in now_sections.items() if k != "heartbeat"
    }:
        return True
    agents = [s["value"] for s in (was.get("heartbeat"), now_sections.get("heartbeat")) if s]
    if any(agent.get("outbox_backlog") for agent in agents):
        return True
    skew, marked_skew = _skew(after), before.get("alerts_skew_seconds")
    if skew is None or marked_skew is None:
        return skew != marked_skew
    return abs(skew - marked_skew) >= SKEW_DRIFT_SECONDS


# What a heartbeat moves besides its section (and the twin's bookkeeping).
_HEARTBEAT_ONLY_KEYS = frozenset(
    {"sections", "last_seen_at", "last_message_at", "next_check_at", "version", "logged_seq"}
    | {"alerts_due_at", "alerts_claim", "alerts_marked_at", "alerts_skew_seconds"}
)


def mark_alerts_due(twin: dict[str, Any], now: datetime) -> None:
    """Make `twin` due for the alert evaluator now, remembering what it was marked with."""
    twin["alerts_due_at"] = now
    twin["alerts_marked_at"] = now
    twin["alerts_skew_seconds"] = _skew(twin)


def number_events(twin: dict[str, Any], events: list[MachineEvent]) -> list[int]:
    """Consecutive per-machine numbers for `events`, advancing the twin's counter."""
    first = twin["event_count"] + 1
    twin["event_count"] += len(events)
    return list(range(first, first + len(events)))
