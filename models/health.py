"""Machine health documents: the raw telemetry log, the device twin, recorded machine events.

The twin holds, per section (status, modules, units, device counts, errors, doors, firmware,
the agent's heartbeat), the last value the machine reported with its `seq`, `observed_at`
(device clock) and `received_at` (server clock); `resolvers/health/twin.py` folds messages
onto it. Connectivity and the deadline of its next change (`next_check_at`) live on the twin
too, so one indexed query finds every machine whose connectivity is due to change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from beanie import Document, PydanticObjectId
from pydantic import Field

from models.indexes import ascending, expiry


class Connectivity(StrEnum):
    """How current the link to the machine's local system is (docs/health.md)."""

    LIVE = "LIVE"
    LATE = "LATE"
    OFFLINE = "OFFLINE"
    NEVER_SEEN = "NEVER_SEEN"
    DECOMMISSIONED = "DECOMMISSIONED"


class TelemetryKind(StrEnum):
    HEARTBEAT = "HEARTBEAT"
    STATUS = "STATUS"
    UNITS = "UNITS"
    DEVICE_COUNTS = "DEVICE_COUNTS"
    ERROR = "ERROR"
    ERROR_CLEARED = "ERROR_CLEARED"
    DOOR = "DOOR"
    SUSPECT_NOTES = "SUSPECT_NOTES"
    FIRMWARE = "FIRMWARE"


class MachineEventKind(StrEnum):
    """Typed changes of a machine, recorded with the twin change that caused them."""

    CONNECTIVITY_CHANGED = "CONNECTIVITY_CHANGED"
    STATUS_CHANGED = "STATUS_CHANGED"
    UNIT_STATUS_CHANGED = "UNIT_STATUS_CHANGED"
    ERROR_RAISED = "ERROR_RAISED"
    ERROR_CLEARED = "ERROR_CLEARED"
    DOOR_CHANGED = "DOOR_CHANGED"
    SUSPECT_NOTES_COUNTED = "SUSPECT_NOTES_COUNTED"


class TelemetryRecord(Document):
    """One telemetry message as received (unique per machine and `event_id`).

    `applied` is False for a message that was older than what the twin held (kept, not
    applied). Expires at `expires_at` (TELEMETRY_RETENTION_DAYS after arrival)."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    event_id: str
    seq: int
    kind: TelemetryKind
    observed_at: datetime
    received_at: datetime
    expires_at: datetime
    applied: bool
    body: dict[str, Any] = Field(default_factory=dict)

    class Settings:
        name = "telemetry_log"
        indexes = [
            ascending("org_id", "machine_id", "event_id", unique=True),
            ascending("org_id", "machine_id", "seq"),
            expiry("telemetry_ttl"),
        ]


class MachineTwin(Document):
    """The device twin of one machine (`_id` is the machine id); see the module docstring.

    `sections` maps a section name to `{value, seq, observed_at, received_at}`; `doors` and
    `errors` are lists of such entries, one per door and per (module, code). `version` guards
    the compare-and-set every writer uses; `event_count` numbers the machine's events."""

    id: PydanticObjectId = Field(alias="_id")  # type: ignore[assignment]
    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    doors: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    last_seen_at: datetime | None = None
    last_message_at: datetime | None = None
    last_batch_at: datetime | None = None
    connectivity: Connectivity = Connectivity.NEVER_SEEN
    connectivity_since: datetime | None = None
    next_check_at: datetime | None = None
    late_after_seconds: int
    offline_after_seconds: int
    # When the machine's alerts must be evaluated again (set by every twin change that may
    # change an alert condition; the alert evaluator sets the next time-based check,
    # docs/alerts.md).
    alerts_due_at: datetime | None = None
    # The claim token of the alert evaluator evaluating the machine (models/alert_store.py).
    alerts_claim: PydanticObjectId | None = None
    # When, and with which clock skew, the twin was last made due (a plain heartbeat within
    # a second of that skew is not: resolvers/health/twin.py `alerts_may_change`).
    alerts_marked_at: datetime | None = None
    alerts_skew_seconds: float | None = None
    # The highest seq in the machine's telemetry log: a message beyond it is not a repeat.
    logged_seq: int | None = None
    # The twin's shop while the machine is LATE or OFFLINE, absent otherwise (derived on
    # every save, `unsettled_shop_of`): the alert evaluator reads a whole shop's machines
    # only where one of them is, found through a sparse index holding just those twins.
    late_or_offline_shop_id: PydanticObjectId | None = None
    event_count: int = 0
    version: int = 0

    # Deadlines the evaluators' due queries scan by (`{field: {$lte: now}}` on a sparse
    # index): absent, never null, when there is none. A sparse index still holds a null, and
    # the embedded server's range scan reads every null entry (10,000 twins: 200 ms against
    # 1 ms per due query, several queries a second).
    DEADLINES: ClassVar[tuple[str, ...]] = ("next_check_at", "alerts_due_at")
    # Every field a sparse index is kept on, for the same reason absent when None.
    SPARSE: ClassVar[tuple[str, ...]] = (*DEADLINES, "late_or_offline_shop_id")

    class Settings:
        name = "machine_twins"
        indexes = [
            ascending("org_id", "shop_id"),
            # A scope filter over a list of machines, `{org_id, _id: {$in: [...]}}`, uses it;
            # without it SecantusDB scans the collection (10x slower at 3,000 machines).
            ascending("org_id", "_id"),
            ascending("next_check_at", sparse=True),
            ascending("alerts_due_at", sparse=True),
            ascending("late_or_offline_shop_id", sparse=True),
        ]


# Connectivity states of one machine that change how the alerts of the others of its shop
# are evaluated (a late machine holds back the OFFLINE of another, docs/alerts.md).
UNSETTLED = (Connectivity.LATE.value, Connectivity.OFFLINE.value)


def unsettled_shop_of(twin: dict[str, Any]) -> Any | None:
    """The value of `late_or_offline_shop_id` for the stored twin `twin`: its shop while its
    connectivity is UNSETTLED, else None (stored as absent)."""
    return twin.get("shop_id") if twin.get("connectivity") in UNSETTLED else None


class MachineEventRecord(Document):
    """A typed machine event (`number` counts per machine, from the twin's `event_count`:
    the unique index makes each change recordable once, whichever worker saw it)."""

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    machine_id: PydanticObjectId
    number: int
    kind: MachineEventKind
    at: datetime
    recorded_at: datetime
    expires_at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)

    class Settings:
        name = "machine_events"
        indexes = [
            ascending("org_id", "machine_id", "number", unique=True),
            ascending("org_id", "shop_id", "at"),
            expiry("machine_events_ttl"),
        ]
