"""Machine health, freshness, fleet health and the telemetry payload.

Types read the views of resolvers.health (MachineHealthView, Freshness, FleetHealth) and the
twin's section mappings by field name (graph.common): every section carries `seq`,
`observedAt`, `receivedAt` and `stale` beside its values; list-valued sections hold their
entries under `items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graph.common import Payload
from graph.enums import (
    AttentionCode,
    CashKind,
    Connectivity,
    DeviceModule,
    DoorState,
    ErrorCategory,
    MachineStatus,
    ModuleStatus,
    TelemetryRejectionCode,
    UnitPurpose,
    UnitStatus,
)
from graph.ledger.types import SeqRange
from graph.scalars import Long
from resolvers.health.fleet_health import FleetHealth
from resolvers.health.machine_health import MachineHealthView

if TYPE_CHECKING:
    from graph.fleet.types import MachineType

MachineRef = Annotated["MachineType", strawberry.lazy("graph.fleet.types")]


@strawberry.interface(name="TwinSection", description="What every reported section carries.")
class TwinSection:
    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        """Every section type reads a twin's section mapping (Strawberry asks because the
        types share this interface); inherited by each."""
        return isinstance(obj, Mapping)

    seq: Long = strawberry.field(description="Telemetry seq of the message that set it.")
    observed_at: datetime = strawberry.field(description="Device clock.")
    received_at: datetime
    stale: bool = strawberry.field(
        description="Older than the stale threshold (nor confirmed by a later heartbeat)."
    )


def _entries(root: strawberry.Parent[Mapping[str, Any]]):
    """The entries of a list-valued section, which the twin holds under `items`; without a
    return annotation, so each section's field declares their type."""
    return root["items"]


@strawberry.type(name="MachineStatusReport")
class MachineStatusReport(TwinSection):
    status: MachineStatus
    code: int = strawberry.field(description="Raw Status.Code.")


@strawberry.type(name="ModuleState")
class ModuleStateType:
    module: DeviceModule
    module_number: int
    status: ModuleStatus
    code: int = strawberry.field(description="Raw DevStatus.st.")


@strawberry.type(name="ModulesReport")
class ModulesReport(TwinSection):
    modules: list[ModuleStateType] = strawberry.field(resolver=_entries)


@strawberry.type(name="Pieces")
class PiecesType:
    kind: CashKind
    denomination: int
    count: int


@strawberry.type(name="CashUnitState")
class CashUnitStateType:
    number: int
    purpose: UnitPurpose
    status: UnitStatus
    status_code: int = strawberry.field(description="Raw unit status.")
    pieces: list[PiecesType]
    near_empty: int | None
    near_full: int | None
    capacity: int | None


@strawberry.type(name="UnitsReport")
class UnitsReport(TwinSection):
    units: list[CashUnitStateType] = strawberry.field(resolver=_entries)


@strawberry.type(name="DeviceCountsReport")
class DeviceCountsReport(TwinSection):
    covers_seq: Long | None = strawberry.field(
        description="The last transaction seq the counts include."
    )
    denominations: list[PiecesType]


@strawberry.type(name="FirmwareModule")
class FirmwareModuleType:
    module: str
    version: str


@strawberry.type(name="FirmwareReport")
class FirmwareReport(TwinSection):
    modules: list[FirmwareModuleType] = strawberry.field(resolver=_entries)


@strawberry.type(name="AgentReport", description="The local system's last heartbeat.")
class AgentReport(TwinSection):
    agent_version: str
    last_journaled_seq: Long | None
    outbox_backlog: int
    outbox_oldest_age_seconds: int | None
    device_heartbeat_at: datetime | None


@strawberry.type(name="SuspectNotesCount")
class SuspectNotesCountType:
    category2: int
    category3: int
    operator_id: str | None
    transaction_seq: Long | None


@strawberry.type(name="SuspectNotesReport")
class SuspectNotesReport(TwinSection, SuspectNotesCountType):
    """The last suspect-note count reported, as a twin section."""


@strawberry.type(name="DoorReport")
class DoorReport(TwinSection):
    door: str
    state: DoorState
    unit: int | None
    operator_id: str | None


@strawberry.type(name="DeviceError")
class DeviceErrorType:
    code: str = strawberry.field(description="As the device sent it.")
    category: ErrorCategory
    message: str | None
    module: DeviceModule | None
    recovering: bool
    active: bool
    raised_at: datetime | None
    cleared_at: datetime | None


@strawberry.type(name="SeqGaps")
class SeqGapsType:
    count: int = strawberry.field(description="Open ranges of missing transaction seqs.")
    truncated: bool = strawberry.field(description="More ranges exist than are tracked.")
    oldest_open_since: datetime | None

    @strawberry.field
    def oldest(self, root: strawberry.Parent[Any]) -> SeqRange | None:
        return root.oldest  # type: ignore[return-value]


@strawberry.type(name="IngestLag", description="receivedAt - occurredAt over recent records.")
class IngestLagType:
    samples: int
    p50_seconds: float | None
    p95_seconds: float | None


@strawberry.type(name="MachineFreshness")
class MachineFreshnessType:
    last_seen_at: datetime | None = strawberry.field(description="Any message or batch.")
    last_message_at: datetime | None
    last_heartbeat_at: datetime | None
    last_batch_at: datetime | None
    last_transaction_at: datetime | None = strawberry.field(
        description="occurredAt of the newest transaction."
    )
    last_transaction_seq: Long | None
    open_gaps: SeqGapsType
    ingest_lag: IngestLagType
    clock_skew_seconds: float | None = strawberry.field(
        description="receivedAt - observedAt of the last heartbeat; null while backfilling."
    )
    outbox_backlog: int | None
    outbox_oldest_age_seconds: int | None
    backfilling: bool = strawberry.field(
        description="The local system is replaying a backlog: counts may be behind."
    )


@strawberry.type(name="AttentionReason")
class AttentionReasonType:
    code: AttentionCode
    message: str
    since: datetime | None


@strawberry.type(name="MachineHealth")
class MachineHealthType:
    connectivity: Connectivity
    connectivity_since: datetime | None
    status: MachineStatusReport | None
    modules: ModulesReport | None
    units: UnitsReport | None
    device_counts: DeviceCountsReport | None
    firmware: FirmwareReport | None
    agent: AgentReport | None
    suspect_notes: SuspectNotesReport | None = strawberry.field(
        description="The last suspect-note count reported."
    )
    doors: list[DoorReport]
    active_errors: list[DeviceErrorType]
    last_error: DeviceErrorType | None
    freshness: MachineFreshnessType

    @strawberry.field(description="Why the machine needs attention; empty when it does not.")
    def needs_attention(
        self, root: strawberry.Parent[MachineHealthView]
    ) -> list[AttentionReasonType]:
        return root.attention  # type: ignore[return-value]


@strawberry.type(name="MachineAttention")
class MachineAttentionType:
    @strawberry.field
    def machine(self, root: strawberry.Parent[MachineHealthView]) -> MachineRef:
        return root.machine  # type: ignore[return-value]

    @strawberry.field
    def health(self, root: strawberry.Parent[MachineHealthView]) -> MachineHealthType:
        return root  # type: ignore[return-value]

    @strawberry.field
    def reasons(self, root: strawberry.Parent[MachineHealthView]) -> list[AttentionReasonType]:
        return root.attention  # type: ignore[return-value]


@strawberry.type(name="ConnectivityCount")
class ConnectivityCountType:
    connectivity: Connectivity
    count: int


@strawberry.type(name="MachineStatusCount")
class MachineStatusCountType:
    status: MachineStatus | None = strawberry.field(description="Null: never reported.")
    count: int


@strawberry.type(name="FleetHealth")
class FleetHealthType:
    machines: int = strawberry.field(description="Machines in service (not decommissioned).")
    decommissioned: int
    in_error: int = strawberry.field(description="Machines with a machine or module error.")
    attention_total: int

    @strawberry.field
    def by_connectivity(self, root: strawberry.Parent[FleetHealth]) -> list[ConnectivityCountType]:
        return [{"connectivity": c, "count": n} for c, n in root.connectivity_counts.items()]  # type: ignore[misc]

    @strawberry.field
    def by_status(self, root: strawberry.Parent[FleetHealth]) -> list[MachineStatusCountType]:
        counts = sorted(root.status_counts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        return [{"status": s, "count": n} for s, n in counts]  # type: ignore[misc]

    @strawberry.field(description="Machines needing attention, most urgent first.")
    def attention(self, root: strawberry.Parent[FleetHealth]) -> list[MachineAttentionType]:
        return root.attention  # type: ignore[return-value]


@strawberry.type
class RejectedTelemetryMessage:
    index: int = strawberry.field(description="Position in the submitted list.")
    event_id: str | None
    code: TelemetryRejectionCode
    message: str


@strawberry.type
class ReportMachineTelemetryPayload(Payload):
    accepted: int = strawberry.field(default=0, description="New messages applied.")
    duplicates: int = strawberry.field(default=0, description="eventIds already received.")
    stale: int = strawberry.field(
        default=0, description="New messages older than what the twin holds: logged only."
    )
    rejected: list[RejectedTelemetryMessage] = strawberry.field(default_factory=list)
