"""The incident state machine of one dedupe key (pure).

    (none) --condition--> PENDING --held for `hold`--> FIRING --(ack)--> ACKNOWLEDGED
              |               |                           |                  |
              |               +--cleared: RESOLVED,       +--false for `keep_firing`--> RESOLVED
              |                  never notified           (30 min when flapping)
              +-- hold 0: straight to FIRING

- One open incident per key; a trigger after RESOLVED opens a new one. A condition that
  comes back while the incident is still open (within keep-firing) is one more occurrence.
- Flapping: FLAP_TRANSITIONS FIRING/RESOLVED transitions of a key within FLAP_WINDOW mark the
  incident flapping instead of resolving it: it notifies FLAPPING once and stays open until
  the condition has been false for FLAP_STABLE.
- Notifications: FIRING is notified once per incident, when it fires or, if it was silenced
  or inhibited then, as soon as it no longer is; ACKNOWLEDGED, FLAPPING and RESOLVED are
  notified only for incidents whose FIRING was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from models.alerts import IncidentState, Severity
from resolvers.alerts.conditions import Condition
from resolvers.alerts.rules import (
    FLAP_STABLE_SECONDS,
    FLAP_TRANSITIONS,
    FLAP_WINDOW_SECONDS,
    RuleSettings,
)

S = IncidentState


@dataclass(frozen=True)
class Suppression:
    """Why an incident may not notify right now (None: it may)."""

    silenced_by: ObjectId | None = None
    inhibited_by: str | None = None

    @property
    def reason(self) -> str | None:
        if self.silenced_by is not None:
            return f"silenced by {self.silenced_by}"
        return f"inhibited: {self.inhibited_by}" if self.inhibited_by else None


@dataclass
class Step:
    """The instance and incident after one evaluation, the notifications (event, transition
    number) to enqueue with them, and whether anything must be written."""

    instance: dict[str, Any]
    incident: dict[str, Any] | None
    notifications: list[tuple[str, int]] = field(default_factory=list)
    changed: bool = False
    created_incident: bool = False
    # Timeline entries numbered above this are new in this step (published after commit).
    prior_transitions: int = 0


def new_instance(
    *, org_id: Any, shop_id: Any, machine_id: Any, rule: Any, subject: str, key: str
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "shop_id": shop_id,
        "machine_id": machine_id,
        "rule": rule.value,
        "subject": subject,
        "key": key,
        "active": False,
        "active_since": None,
        "inactive_since": None,
        "detail": {},
        "incident_id": None,
        "flips": [],
        "last_occurrence": None,
        "next_check_at": None,
        "version": 0,
    }


def _record(
    incident: dict[str, Any],
    step: Step,
    state: IncidentState | None,
    at: datetime,
    *,
    note: str,
    notify: str | None = None,
    suppression: Suppression | None = None,
    by: dict[str, Any] | None = None,
) -> None:
    """Append a timeline entry (and its notification, unless suppressed)."""
    incident["transitions"] += 1
    notified = notify is not None and (suppression is None or suppression.reason is None)
    if state is not None:
        incident["state"] = state.value
    incident["timeline"].append(
        {
            "n": incident["transitions"],
            "at": at,
            "state": incident["state"],
            "note": note,
            "by": by,
            "notified": notified,
            "event": notify if notified else None,
            "suppressed": suppression.reason if notify and suppression else None,
        }
    )
    incident["updated_at"] = at
    if notified:
        step.notifications.append((notify, incident["transitions"]))
        if notify == "FIRING":
            incident["notified_firing"] = True
    step.changed = True


def _flip(instance: dict[str, Any], at: datetime) -> int:
    """Record a FIRING/RESOLVED transition; returns how many fall in the flap window."""
    window = at - timedelta(seconds=FLAP_WINDOW_SECONDS)
    instance["flips"] = [t for t in instance["flips"] if t > window] + [at]
    return len(instance["flips"])


def _open(
    instance: dict[str, Any],
    condition: Condition,
    settings: RuleSettings,
    now: datetime,
    summary_severity: Severity,
) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "org_id": instance["org_id"],
        "shop_id": instance["shop_id"],
        "machine_id": instance["machine_id"],
        "rule": instance["rule"],
        "subject": instance["subject"],
        "key": instance["key"],
        "state": S.PENDING.value,
        "severity": summary_severity.value,
        "summary": condition.summary,
        "detail": condition.detail,
        "opened_at": now,
        "first_seen_at": instance["active_since"] or now,
        "last_seen_at": now,
        "fired_at": None,
        "acknowledged_at": None,
        "resolved_at": None,
        "occurrences": 1,
        "flapping": False,
        "notified_firing": False,
        "manually_resolved": False,
        "transitions": 0,
        "timeline": [],
        "updated_at": now,
    }


def _fire(incident: dict[str, Any], instance: dict[str, Any], step: Step, now: datetime, s) -> None:
    incident["fired_at"] = now
    _flip(instance, now)
    _record(incident, step, S.FIRING, now, note="condition held", notify="FIRING", suppression=s)


def evaluate_key(
    instance: dict[str, Any],
    incident: dict[str, Any] | None,
    *,
    condition: Condition | None,
    settings: RuleSettings,
    suppression: Suppression,
    now: datetime,
) -> Step:
    """One evaluation of a key at `now` (`instance`/`incident` are not modified)."""
    instance = {**instance, "flips": list(instance["flips"])}
    incident = (
        {**incident, "timeline": list(incident["timeline"])} if incident is not None else None
    )
    step = Step(instance, incident, prior_transitions=incident["transitions"] if incident else 0)
    active = condition is not None and settings.enabled
    before = (instance["active"], instance["next_check_at"])
    if active and not instance["active"]:
        instance.update(active=True, active_since=now, inactive_since=None)
    elif not active and instance["active"]:
        instance.update(active=False, inactive_since=now)
    hold = timedelta(seconds=settings.hold_seconds)

    if incident is None and active:
        assert condition is not None
        incident = step.incident = _open(
            instance, condition, settings, now, condition.severity or settings.severity
        )
        instance["incident_id"] = incident["_id"]
        instance["last_occurrence"] = condition.occurrence
        step.created_incident = True
        _record(incident, step, None, now, note=condition.summary)
        if now - instance["active_since"] >= hold:
            _fire(incident, instance, step, now, suppression)
    elif incident is not None:
        state = S(incident["state"])
        if active:
            assert condition is not None
            incident["last_seen_at"] = now
            if before[0] is False or (
                condition.occurrence is not None
                and condition.occurrence != instance["last_occurrence"]
            ):
                incident["occurrences"] += 1
                step.changed = True
            instance["last_occurrence"] = condition.occurrence
            if state is S.PENDING and now - instance["active_since"] >= hold:
                _fire(incident, instance, step, now, suppression)
        elif state is S.PENDING:
            _record(incident, step, S.RESOLVED, now, note="cleared before its hold; not notified")
        else:
            needed = FLAP_STABLE_SECONDS if incident["flapping"] else settings.keep_firing_seconds
            if now - instance["inactive_since"] >= timedelta(seconds=needed):
                recent = [
                    t for t in instance["flips"] if t > now - timedelta(seconds=FLAP_WINDOW_SECONDS)
                ]
                if not incident["flapping"] and len(recent) + 1 >= FLAP_TRANSITIONS:
                    incident["flapping"] = True
                    notify = "FLAPPING" if incident["notified_firing"] else None
                    _record(
                        incident,
                        step,
                        None,
                        now,
                        note="flapping: stays open until stable",
                        notify=notify,
                        suppression=suppression,
                    )
                else:
                    _flip(instance, now)
                    notify = "RESOLVED" if incident["notified_firing"] else None
                    _record(
                        incident,
                        step,
                        S.RESOLVED,
                        now,
                        note="condition cleared",
                        notify=notify,
                        suppression=None,
                    )
        if (
            S(incident["state"]) is S.FIRING
            and not incident["notified_firing"]
            and suppression.reason is None
        ):
            _record(incident, step, None, now, note="no longer suppressed", notify="FIRING")
        if S(incident["state"]) is S.RESOLVED:
            incident["resolved_at"] = now
            instance["incident_id"] = None
    instance["next_check_at"] = _next_check(instance, step.incident, settings)
    if (instance["active"], instance["next_check_at"]) != before:
        step.changed = True
    return step


def _next_check(
    instance: dict[str, Any], incident: dict[str, Any] | None, settings: RuleSettings
) -> datetime | None:
    """When time alone may move this key: its hold or its keep-firing running out."""
    if incident is None or S(incident["state"]) is S.RESOLVED:
        return None
    if S(incident["state"]) is S.PENDING and instance["active"]:
        return instance["active_since"] + timedelta(seconds=settings.hold_seconds)
    if not instance["active"] and instance["inactive_since"] is not None:
        needed = FLAP_STABLE_SECONDS if incident["flapping"] else settings.keep_firing_seconds
        return instance["inactive_since"] + timedelta(seconds=needed)
    return None


def record_transition(
    step: Step,
    state: IncidentState | None,
    at: datetime,
    *,
    note: str,
    notify: str | None = None,
    by: dict[str, Any] | None = None,
) -> None:
    """A transition someone made (acknowledge, resolve) on the step's incident."""
    assert step.incident is not None
    _record(step.incident, step, state, at, note=note, notify=notify, by=by)
