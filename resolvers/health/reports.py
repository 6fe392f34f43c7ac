"""Telemetry messages as the local system reports them: one dataclass per section, and the
message that carries one (validated by resolvers/health/messages.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from models.health import TelemetryKind
from resolvers.cash import CashCount
from resolvers.health.codes import ErrorCategory, UnitPurpose


class DoorState(StrEnum):
    OPENED = "OPENED"
    CLOSED = "CLOSED"
    LOCKED = "LOCKED"
    UNLOCKED = "UNLOCKED"


@dataclass(frozen=True)
class HeartbeatReport:
    agent_version: str
    last_journaled_seq: int | None = None
    outbox_backlog: int = 0
    outbox_oldest_age_seconds: int | None = None
    device_heartbeat_at: datetime | None = None


@dataclass(frozen=True)
class ModuleReport:
    module: int
    code: int


@dataclass(frozen=True)
class StatusReport:
    code: int
    modules: list[ModuleReport] = field(default_factory=list)


@dataclass(frozen=True)
class UnitReport:
    number: int
    purpose: UnitPurpose
    status_code: int
    pieces: list[CashCount] = field(default_factory=list)
    near_empty: int | None = None
    near_full: int | None = None
    capacity: int | None = None


@dataclass(frozen=True)
class DeviceCountsReport:
    covers_seq: int | None
    denominations: list[CashCount]


@dataclass(frozen=True)
class ErrorReport:
    code: str
    message: str | None = None
    module: int | None = None
    recovering: bool = False
    category: ErrorCategory | None = None


@dataclass(frozen=True)
class DoorReport:
    door: str
    state: DoorState
    unit: int | None = None
    operator_id: str | None = None


@dataclass(frozen=True)
class SuspectNotesReport:
    category2: int
    category3: int
    operator_id: str | None = None
    transaction_seq: int | None = None


@dataclass(frozen=True)
class FirmwareReport:
    module: str
    version: str


@dataclass(frozen=True)
class TelemetryMessage:
    """One message; exactly the section its `kind` names is expected (SECTION_OF)."""

    event_id: str
    seq: int
    observed_at: datetime
    kind: TelemetryKind
    heartbeat: HeartbeatReport | None = None
    status: StatusReport | None = None
    units: list[UnitReport] | None = None
    device_counts: DeviceCountsReport | None = None
    error: ErrorReport | None = None
    door: DoorReport | None = None
    suspect_notes: SuspectNotesReport | None = None
    firmware: list[FirmwareReport] | None = None
