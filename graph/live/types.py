"""Live-view events (subscription payloads). Each type reads an infra.live Envelope by field
name: its own fields (`event_id`, `sequence` ...) and its payload's (see
resolvers.live.publish); list fields default to empty for GAP envelopes, which carry none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graph.enums import (
    Connectivity,
    DeviceModule,
    DoorState,
    ErrorCategory,
    EventType,
    MachineEventKind,
    MachineStatus,
    ModuleStatus,
    TransactionType,
    UnitPurpose,
    UnitStatus,
)
from graph.fleet.types import DenominationInventoryType
from graph.health.types import SuspectNotesCountType
from graph.scalars import Long
from infra.live.envelope import Envelope


@strawberry.interface(
    name="LiveEvent",
    description=(
        "Envelope of every live event. `sequence` counts per machine: for inventory and ingest "
        "events the audit-chain position after the change (a jump by more than the batch size "
        "means events were missed), for machine events the event number (a jump by more than "
        "one). After a jump, re-query."
    ),
)
class LiveEventInterface:
    version: int = strawberry.field(description="Envelope format version.")
    event_id: strawberry.ID
    type: EventType
    organization_id: strawberry.ID
    shop_id: strawberry.ID | None = strawberry.field(description="Null only for GAP.")
    machine_id: strawberry.ID | None = strawberry.field(description="Null only for GAP.")
    sequence: Long | None
    published_at: datetime
    gap_reason: str | None = strawberry.field(description="Why events may be missing (GAP).")


def _listed(root: strawberry.Parent[Envelope], info: strawberry.Info):
    """A list field read from the payload under the field's name; [] for GAP envelopes, which
    carry none. Without a return annotation, so each field declares its type."""
    return root.payload.get(info.python_name, [])


def envelopes_of(event_type: EventType) -> classmethod:
    """`is_type_of` of an event type: the envelopes it reads (its own type, and GAPs, which
    every subscription receives). Strawberry checks it because the types share an interface."""

    def is_type_of(cls: type, obj: Any, info: Any) -> bool:
        return isinstance(obj, Envelope) and obj.type in (event_type, EventType.GAP)

    return classmethod(is_type_of)


@strawberry.type(name="InventoryChangedEvent")
class InventoryChangedEvent(LiveEventInterface):
    is_type_of = envelopes_of(EventType.INVENTORY_CHANGED)
    currency: str | None
    total_value: Long | None
    total_pieces: Long | None
    denominations: list[DenominationInventoryType] = strawberry.field(resolver=_listed)


@strawberry.type(name="TransactionTypeSummary")
class TransactionTypeSummaryType:
    type: TransactionType
    count: int
    amount: Long = strawberry.field(description="Sum of the amounts, in minor units.")


@strawberry.type(name="TransactionsIngestedEvent")
class TransactionsIngestedEvent(LiveEventInterface):
    is_type_of = envelopes_of(EventType.TRANSACTIONS_INGESTED)
    batch_id: strawberry.ID | None
    accepted: int | None = strawberry.field(description="New transactions in the batch.")
    chain_from: Long | None
    chain_to: Long | None
    first_seq: Long | None
    last_seq: Long | None
    flagged: int | None = strawberry.field(description="Accepted records carrying flags.")
    currency: str | None
    inventory_value: Long | None = strawberry.field(description="Machine's value afterwards.")
    inventory_pieces: Long | None
    by_type: list[TransactionTypeSummaryType] = strawberry.field(resolver=_listed)


@strawberry.type(name="ConnectivityChange")
class ConnectivityChangeType:
    previous: Connectivity
    connectivity: Connectivity


@strawberry.type(name="ModuleChange")
class ModuleChangeType:
    module: DeviceModule
    module_number: int
    status: ModuleStatus
    code: int


@strawberry.type(name="StatusChange")
class StatusChangeType:
    previous: MachineStatus | None
    status: MachineStatus
    code: int = strawberry.field(description="Raw Status.Code.")
    modules: list[ModuleChangeType]


@strawberry.type(name="UnitStatusChange")
class UnitStatusChangeType:
    unit: int
    purpose: UnitPurpose
    previous: UnitStatus | None
    status: UnitStatus


@strawberry.type(name="DeviceErrorChange")
class DeviceErrorChangeType:
    code: str
    category: ErrorCategory
    message: str | None
    module: DeviceModule | None
    recovering: bool


@strawberry.type(name="DoorChange")
class DoorChangeType:
    door: str
    unit: int | None
    previous: DoorState | None
    state: DoorState
    operator_id: str | None


@strawberry.type(
    name="MachineEvent",
    description="A typed change of a machine; the field named after `kind` holds its detail. "
    "`sequence` is the machine's event number: a jump by more than one means events were "
    "missed.",
)
class MachineEventType(LiveEventInterface):
    is_type_of = envelopes_of(EventType.MACHINE_EVENT)
    kind: MachineEventKind | None = strawberry.field(description="Null only for GAP.")
    connectivity_changed: ConnectivityChangeType | None
    status_changed: StatusChangeType | None
    unit_status_changed: UnitStatusChangeType | None
    error_raised: DeviceErrorChangeType | None
    error_cleared: DeviceErrorChangeType | None
    door_changed: DoorChangeType | None
    suspect_notes_counted: SuspectNotesCountType | None

    @strawberry.field(description="When it happened (device clock for reported changes).")
    def at(self, root: strawberry.Parent[Envelope]) -> datetime | None:
        at = root.payload.get("at")
        return datetime.fromisoformat(at) if at else None
