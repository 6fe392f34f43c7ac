"""Inputs of telemetry ingest. Numbers are Long where a local system could send anything, so
an out-of-range value rejects its message, not the whole request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext

from graph.enums import CashKind, DoorState, ErrorCategory, TelemetryKind, UnitPurpose
from graph.framework import build_input_with
from graph.ledger.inputs import cash_counts
from graph.scalars import Long
from resolvers.health.reports import (
    DeviceCountsReport,
    DoorReport,
    ErrorReport,
    FirmwareReport,
    HeartbeatReport,
    ModuleReport,
    StatusReport,
    SuspectNotesReport,
    TelemetryMessage,
    UnitReport,
)


@strawberry.input
class HeartbeatInput:
    agent_version: str
    last_journaled_seq: Long | None = strawberry.field(
        default=None, description="The newest transaction seq in the local system's journal."
    )
    outbox_backlog: Long = strawberry.field(default=0, description="Records not yet sent.")
    outbox_oldest_age_seconds: Long | None = strawberry.field(
        default=None, description="Age of the oldest unsent record."
    )
    device_heartbeat_at: datetime | None = strawberry.field(
        default=None, description="The device's own last heartbeat (its clock)."
    )


@strawberry.input
class ModuleStatusInput:
    module: Long = strawberry.field(description="Device module: 1 note unit, 2 coin unit.")
    code: Long = strawberry.field(description="Raw DevStatus.st.")


@strawberry.input
class StatusInput:
    code: Long = strawberry.field(description="Raw Status.Code of the machine.")
    modules: list[ModuleStatusInput] = strawberry.field(default_factory=list)


@strawberry.input
class PiecesInput:
    denomination: Long = strawberry.field(description="Face value in minor units.")
    count: Long
    kind: CashKind | None = strawberry.field(
        default=None, description="Needed only where a value is both note and coin."
    )


@strawberry.input
class CashUnitInput:
    number: Long
    purpose: UnitPurpose
    status_code: Long = strawberry.field(
        description="Raw status: 0 empty, 1 near-empty, 2 exists, 3 near-full, 4 full, "
        "21 missing, 22 not available."
    )
    pieces: list[PiecesInput] = strawberry.field(default_factory=list)
    near_empty: Long | None = None
    near_full: Long | None = None
    capacity: Long | None = None


@strawberry.input
class DeviceCountsInput:
    covers_seq: Long | None = strawberry.field(
        description="The last transaction seq these counts include."
    )
    denominations: list[PiecesInput]


@strawberry.input
class DeviceErrorInput:
    code: str = strawberry.field(description="The device's raw code, kept as sent.")
    message: str | None = None
    module: Long | None = None
    recovering: bool = strawberry.field(
        default=False, description="The device is trying to recover by itself."
    )
    category: ErrorCategory | None = strawberry.field(
        default=None, description="When the local system knows it; else from the code."
    )


@strawberry.input
class DoorInput:
    door: str = strawberry.field(description="Which door or unit (e.g. FRONT, COLLECTION_BOX).")
    state: DoorState
    unit: Long | None = None
    operator_id: str | None = None


@strawberry.input
class SuspectNotesInput:
    category2: Long = strawberry.field(description="Suspected counterfeits counted.")
    category3: Long = strawberry.field(description="Notes not clearly authenticated.")
    operator_id: str | None = None
    transaction_seq: Long | None = None


@strawberry.input
class FirmwareVersionInput:
    module: str
    version: str


@strawberry.input
class TelemetryMessageInput:
    event_id: str = strawberry.field(
        description="Unique per machine, chosen by the local system; a repeat is a duplicate."
    )
    seq: Long = strawberry.field(description="The local system's telemetry seq, increasing.")
    observed_at: datetime = strawberry.field(description="Device clock.")
    kind: TelemetryKind
    heartbeat: HeartbeatInput | None = None
    status: StatusInput | None = None
    units: list[CashUnitInput] | None = None
    device_counts: DeviceCountsInput | None = None
    error: DeviceErrorInput | None = strawberry.field(
        default=None, description="For ERROR and ERROR_CLEARED."
    )
    door: DoorInput | None = None
    suspect_notes: SuspectNotesInput | None = None
    firmware: list[FirmwareVersionInput] | None = None


def _section(value: Mapping[str, Any], name: str) -> Any:
    """The resolver's report for section `name` of a coerced message (None when absent)."""
    raw = value.get(name)
    if raw is None:
        return None
    if name == "heartbeat":
        return HeartbeatReport(
            agent_version=raw["agentVersion"],
            last_journaled_seq=raw.get("lastJournaledSeq"),
            outbox_backlog=raw.get("outboxBacklog", 0),
            outbox_oldest_age_seconds=raw.get("outboxOldestAgeSeconds"),
            device_heartbeat_at=raw.get("deviceHeartbeatAt"),
        )
    if name == "status":
        modules = [ModuleReport(m["module"], m["code"]) for m in raw.get("modules", [])]
        return StatusReport(code=raw["code"], modules=modules)
    if name == "units":
        return [
            UnitReport(
                number=u["number"],
                purpose=UnitPurpose(u["purpose"]),
                status_code=u["statusCode"],
                pieces=cash_counts(u.get("pieces", [])),
                near_empty=u.get("nearEmpty"),
                near_full=u.get("nearFull"),
                capacity=u.get("capacity"),
            )
            for u in raw
        ]
    if name == "deviceCounts":
        return DeviceCountsReport(raw.get("coversSeq"), cash_counts(raw["denominations"]))
    if name == "error":
        category = raw.get("category")
        return ErrorReport(
            code=raw["code"],
            message=raw.get("message"),
            module=raw.get("module"),
            recovering=raw.get("recovering", False),
            category=ErrorCategory(category) if category is not None else None,
        )
    if name == "door":
        return DoorReport(
            door=raw["door"],
            state=DoorState(raw["state"]),
            unit=raw.get("unit"),
            operator_id=raw.get("operatorId"),
        )
    if name == "suspectNotes":
        return SuspectNotesReport(
            category2=raw["category2"],
            category3=raw["category3"],
            operator_id=raw.get("operatorId"),
            transaction_seq=raw.get("transactionSeq"),
        )
    return [FirmwareReport(f["module"], f["version"]) for f in raw]


def telemetry_message(
    cls: type, value: Mapping[str, Any], context: InputContext
) -> TelemetryMessage:
    """The resolver's message straight from the coerced input (graphql-core has checked
    types, enums and scalars by now)."""
    return TelemetryMessage(
        event_id=value["eventId"],
        seq=value["seq"],
        observed_at=value["observedAt"],
        kind=TelemetryKind(value["kind"]),
        heartbeat=_section(value, "heartbeat"),
        status=_section(value, "status"),
        units=_section(value, "units"),
        device_counts=_section(value, "deviceCounts"),
        error=_section(value, "error"),
        door=_section(value, "door"),
        suspect_notes=_section(value, "suspectNotes"),
        firmware=_section(value, "firmware"),
    )


build_input_with(TelemetryMessageInput, telemetry_message)


@strawberry.input
class ReportMachineTelemetryInput:
    machine_id: strawberry.ID
    # Arrives as TelemetryMessage values (see `telemetry_message`).
    messages: list[TelemetryMessageInput] = strawberry.field(description="At most 500.")
