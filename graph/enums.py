"""Every enum of the API, registered with Strawberry here and only here.

The enums themselves live where their values mean something (models, resolvers, infra);
registering one turns it into a GraphQL enum. A type annotated with an enum that is not yet
registered gets an implicit definition of its own, and a second one later is a duplicate, so
every graph module imports the enums it uses from this module.
"""

from __future__ import annotations

from enum import StrEnum

import strawberry

from auth.errors import RequestErrorCode
from infra.live.envelope import EventType
from models.alerts import AlertRule, IncidentState, Severity
from models.currencies import CashKind
from models.health import Connectivity, MachineEventKind, TelemetryKind
from models.identity import Role
from models.ledger import TransactionFlag, TransactionType
from models.machine import MachineModel
from models.webhooks import WebhookEvent
from resolvers.analytics.buckets import Interval
from resolvers.analytics.cash_flow import GroupKey
from resolvers.analytics.forecast import Action
from resolvers.audit.proofs import KeyRole
from resolvers.errors import ALL_ERROR_CODES
from resolvers.fleet.inventory import FillStatus
from resolvers.health.codes import (
    DeviceModule,
    ErrorCategory,
    MachineStatus,
    ModuleStatus,
    UnitPurpose,
    UnitStatus,
)
from resolvers.health.machine_health import AttentionCode
from resolvers.health.messages import TelemetryRejectionCode
from resolvers.health.reports import DoorState
from resolvers.identity.api_keys import ApiKeyStatus
from resolvers.identity.security_log import SecurityAction
from resolvers.ledger.ingest.records import RejectionCode
from resolvers.webhooks.deliveries import WebhookDeliveryStatus


def _merged_codes() -> type[StrEnum]:
    members: dict[str, str] = {}
    for enum in ALL_ERROR_CODES:
        for member in enum:
            if members.setdefault(member.name, member.value) != member.value:
                raise ValueError(f"error code {member.name} has two values")
    return StrEnum("UserErrorCode", members)  # type: ignore[return-value]


UserErrorCode = strawberry.enum(
    _merged_codes(),
    name="UserErrorCode",
    description="Why an operation could not do what was asked: the `code` of a mutation's "
    "`userErrors`, and `extensions.code` of a query's error (docs/errors.md).",
)
strawberry.enum(
    RequestErrorCode,
    name="RequestErrorCode",
    description="`extensions.code` of errors that concern the request rather than the "
    "operation: credentials, limits, malformed documents (docs/errors.md).",
)
# Exposed under their own names, without a description.
for _enum in (
    MachineModel,
    FillStatus,
    TransactionType,
    TransactionFlag,
    RejectionCode,
    Role,
    ApiKeyStatus,
    SecurityAction,
    AlertRule,
    TelemetryKind,
    MachineEventKind,
    DeviceModule,
    UnitStatus,
    UnitPurpose,
    DoorState,
    TelemetryRejectionCode,
    AttentionCode,
):
    strawberry.enum(_enum)
# Exposed under their own names, with a description.
_DESCRIBED: dict[type, str] = {
    CashKind: "Whether a denomination is a note or a coin.",
    Connectivity: "LIVE: heard from recently; LATE: more than three heartbeat intervals of "
    "silence; OFFLINE: silent for longer than the offline grace; NEVER_SEEN; DECOMMISSIONED.",
    MachineStatus: "Glory Status.Code, mapped.",
    ModuleStatus: "Glory DevStatus.st, mapped.",
    WebhookEvent: "The incident transition a delivery reports; TEST: sent by testWebhook.",
    WebhookDeliveryStatus: "PENDING: waiting for its next attempt; SENDING: a worker is "
    "sending it; DELIVERED: answered 2xx; FAILED: given up after 24 h, or its webhook was "
    "disabled.",
}
for _enum, _description in _DESCRIBED.items():
    strawberry.enum(_enum, description=_description)
# Exposed under other names: the Python name is too general outside its module.
strawberry.enum(Interval, name="CashFlowInterval")
strawberry.enum(GroupKey, name="CashFlowGroupBy")
strawberry.enum(Action, name="ForecastAction")
strawberry.enum(ErrorCategory, name="DeviceErrorCategory")
strawberry.enum(
    KeyRole,
    name="AuditKeyRole",
    description="LOG: signs the service's checkpoints; WITNESS: cosigns them (docs/audit.md).",
)
strawberry.enum(
    EventType,
    name="LiveEventType",
    description="GAP: events may have been missed (for example during a fan-out outage); "
    "re-query the state you display.",
)
AlertSeverity = strawberry.enum(Severity, name="AlertSeverity")
AlertState = strawberry.enum(
    IncidentState,
    name="AlertState",
    description="PENDING: the condition holds, its hold not over (never notified); FIRING; "
    "ACKNOWLEDGED: someone is on it; RESOLVED.",
)

__all__ = [
    "Action",
    "AlertRule",
    "AlertSeverity",
    "AlertState",
    "ApiKeyStatus",
    "AttentionCode",
    "CashKind",
    "Connectivity",
    "DeviceModule",
    "DoorState",
    "ErrorCategory",
    "EventType",
    "FillStatus",
    "GroupKey",
    "Interval",
    "KeyRole",
    "MachineEventKind",
    "MachineModel",
    "MachineStatus",
    "ModuleStatus",
    "RejectionCode",
    "RequestErrorCode",
    "Role",
    "SecurityAction",
    "TelemetryKind",
    "TelemetryRejectionCode",
    "TransactionFlag",
    "TransactionType",
    "UnitPurpose",
    "UnitStatus",
    "UserErrorCode",
    "WebhookDeliveryStatus",
    "WebhookEvent",
]
