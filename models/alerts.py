"""Alert documents: per-key alert state, incidents, rule settings, silences, planned
collections (docs/alerts.md).

An *alert instance* is the state of one dedupe key (organization, machine or shop, rule,
subject): whether the condition holds, since when, its recent flips, and the open incident.
An *incident* is one episode of a key, from PENDING to RESOLVED, with its timeline. Every
change of either is a compare-and-set on the instance's `version`, in one transaction with the
incident write and the notifications it causes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field

from models.indexes import ascending


class AlertRule(StrEnum):
    OFFLINE = "OFFLINE"
    DEVICE_ERROR = "DEVICE_ERROR"
    NOTE_JAM = "NOTE_JAM"
    COMMUNICATION_ERROR = "COMMUNICATION_ERROR"
    COLLECTION_NEAR_FULL = "COLLECTION_NEAR_FULL"
    COLLECTION_FULL = "COLLECTION_FULL"
    DENOMINATION_NEAR_EMPTY = "DENOMINATION_NEAR_EMPTY"
    DENOMINATION_EMPTY = "DENOMINATION_EMPTY"
    UNIT_MISSING = "UNIT_MISSING"
    DOOR_OPEN_TOO_LONG = "DOOR_OPEN_TOO_LONG"
    DOOR_OUTSIDE_HOURS = "DOOR_OUTSIDE_HOURS"
    EMPTY_SOON = "EMPTY_SOON"
    SEQ_GAP_OPEN = "SEQ_GAP_OPEN"
    NEGATIVE_INVENTORY = "NEGATIVE_INVENTORY"
    SUSPECT_NOTES = "SUSPECT_NOTES"
    CLOCK_SKEW = "CLOCK_SKEW"
    AGENT_BACKLOG = "AGENT_BACKLOG"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class IncidentState(StrEnum):
    PENDING = "PENDING"
    FIRING = "FIRING"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


OPEN_STATES = (IncidentState.PENDING, IncidentState.FIRING, IncidentState.ACKNOWLEDGED)


class AlertKeyed(Document):
    """The dedupe key an alert instance and each of its incidents carry: organization, shop
    and machine (`machine_id` None for shop-level keys), rule and subject, and `key`, the
    string unique per organization that names them together."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId | None = None
    machine_id: PydanticObjectId | None = None
    rule: AlertRule
    subject: str = ""
    key: str


class AlertInstance(AlertKeyed):
    """The state of one dedupe key."""

    active: bool = False
    active_since: datetime | None = None
    inactive_since: datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    incident_id: PydanticObjectId | None = None
    flips: list[datetime] = Field(default_factory=list)
    next_check_at: datetime | None = None
    version: int = 0

    class Settings:
        name = "alert_instances"
        indexes = [
            ascending("org_id", "key", unique=True),
            ascending("org_id", "machine_id"),
            ascending("next_check_at", sparse=True),
        ]


class Incident(AlertKeyed):
    """One episode of a dedupe key; `timeline` lists every transition (who, when, why) and
    whether it was notified. `transitions` numbers them (the delivery outbox's key)."""

    state: IncidentState
    severity: Severity
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict)
    opened_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    occurrences: int = 1
    flapping: bool = False
    notified_firing: bool = False
    manually_resolved: bool = False
    transitions: int = 0
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    updated_at: datetime

    class Settings:
        name = "incidents"
        indexes = [
            # Ascending time keys, walked backwards for newest first (docs/architecture.md).
            ascending("org_id", "opened_at", "_id"),
            ascending("org_id", "shop_id", "opened_at"),
            ascending("org_id", "machine_id", "opened_at"),
            ascending("org_id", "state"),
        ]


OVERRIDABLE_RULE_FIELDS = (
    "enabled",
    "severity",
    "hold_seconds",
    "keep_firing_seconds",
    "threshold",
)


class AlertRuleOverride(Document):
    """An organization's settings of one rule; unset fields keep the defaults."""

    org_id: PydanticObjectId
    rule: AlertRule
    enabled: bool | None = None
    severity: Severity | None = None
    hold_seconds: int | None = None
    keep_firing_seconds: int | None = None
    threshold: int | None = None
    updated_at: datetime

    class Settings:
        name = "alert_rule_overrides"
        indexes = [ascending("org_id", "rule", unique=True)]


class Silence(Document):
    """Incidents matching every given matcher (an empty matcher matches all) are recorded but
    do not notify between `starts_at` and `ends_at`."""

    org_id: PydanticObjectId
    shop_ids: list[PydanticObjectId] = Field(default_factory=list)
    machine_ids: list[PydanticObjectId] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=list)
    reason: str
    created_by: str
    starts_at: datetime
    ends_at: datetime
    expired_at: datetime | None = None
    # Set once, by the evaluator that re-examined the incidents the silence held back.
    released: bool = False

    class Settings:
        name = "silences"
        indexes = [ascending("org_id", "ends_at")]


class PlannedCollection(Document):
    """A cash collection: door and unit-removal events of the machine are expected in the
    window."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime

    class Settings:
        name = "planned_collections"
        indexes = [ascending("org_id", "machine_id", "ends_at")]


class AlertForecast(Document):
    """The replenishment forecast's verdict per machine for EMPTY_SOON (`_id` = machine id):
    `slots` maps a slot key to [hours to EMPTY, hours to FULL] (None: beyond the horizon);
    `computed_at` is the sweep that computed them (a later sweep finding the same leaves it)."""

    id: PydanticObjectId = Field(alias="_id")  # type: ignore[assignment]
    org_id: PydanticObjectId
    slots: dict[str, list[float | None]] = Field(default_factory=dict)
    computed_at: datetime

    class Settings:
        name = "alert_forecasts"
        indexes = [ascending("org_id")]


class AlertSweep(Document):
    """When an organization's forecast sweep is next due (`_id` = org id); workers claim a
    sweep by moving `next_at` forward with a conditional update, so one of them runs it."""

    id: PydanticObjectId = Field(alias="_id")  # type: ignore[assignment]
    next_at: datetime

    class Settings:
        name = "alert_sweeps"
        indexes = [ascending("next_at")]
