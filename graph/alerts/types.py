"""Alerts: incidents with their timeline, rule settings, silences, planned collections.

`AlertType` reads a stored incident document by field name; `AlertChangedEvent` reads an
`ALERT_CHANGED` envelope (the payload of resolvers.alerts.notify.incident_payload).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graph.common import Connection, Payload
from graph.context import Info
from graph.enums import AlertRule, AlertSeverity, AlertState, EventType
from graph.fleet.types import MachineType, ShopType
from graph.live.types import LiveEventInterface, envelopes_of
from infra.live.envelope import Envelope
from resolvers.alerts.rules import THRESHOLD_MEANING, RuleSettings


@strawberry.type(name="AlertActor", description="Who made a transition by hand.")
class AlertActorType:
    kind: str
    id: strawberry.ID
    comment: str | None


@strawberry.type(name="AlertTransition")
class AlertTransitionType:
    at: datetime
    state: AlertState
    note: str
    notified: bool = strawberry.field(description="Sent to webhooks.")
    suppressed: str | None = strawberry.field(description="Why it was not sent, if it wasn't.")
    by: AlertActorType | None = strawberry.field(description="Null: the evaluator.")

    @strawberry.field(description="Position in the incident's timeline, from 1.")
    def number(self, root: strawberry.Parent[dict]) -> int:
        return root["n"]


@strawberry.type(
    name="Alert",
    description="One incident: an episode of a rule on a machine "
    "or shop, from PENDING to RESOLVED.",
)
class AlertType:
    id: strawberry.ID
    rule: AlertRule
    subject: str = strawberry.field(description="The unit, denomination, door ... or empty.")
    state: AlertState
    severity: AlertSeverity
    summary: str
    opened_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    fired_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    occurrences: int
    flapping: bool
    manually_resolved: bool
    timeline: list[AlertTransitionType]

    @strawberry.field
    async def shop(self, info: Info, root: strawberry.Parent[dict]) -> ShopType | None:
        if root["shop_id"] is None:
            return None
        return await info.context.loaders.fleet.shop_by_id.load(root["shop_id"])

    @strawberry.field(description="Null for a shop-level or organization-level alert.")
    async def machine(self, info: Info, root: strawberry.Parent[dict]) -> MachineType | None:
        if root["machine_id"] is None:
            return None
        return await info.context.loaders.fleet.machine_by_id.load(root["machine_id"])


AlertConnection = Connection[AlertType]


@strawberry.type(name="AlertRuleSettings")
class AlertRuleSettingsType:
    rule: AlertRule
    enabled: bool
    severity: AlertSeverity
    hold_seconds: int = strawberry.field(description="The condition must hold this long.")
    keep_firing_seconds: int = strawberry.field(
        description="It must be false this long before the alert resolves."
    )
    threshold: int | None

    @strawberry.field
    def threshold_meaning(self, root: strawberry.Parent[RuleSettings]) -> str | None:
        return THRESHOLD_MEANING.get(root.rule)


@strawberry.type(name="AlertRuleEntry")
class AlertRuleEntryType:
    @strawberry.field
    def settings(self, root: strawberry.Parent[tuple]) -> AlertRuleSettingsType:
        return root[0]

    @strawberry.field(description="The organization changed a default.")
    def customized(self, root: strawberry.Parent[tuple]) -> bool:
        return root[1]


@strawberry.type(name="Silence")
class SilenceType:
    id: strawberry.ID
    shop_ids: list[strawberry.ID]
    machine_ids: list[strawberry.ID]
    rules: list[AlertRule]
    reason: str
    created_by: str
    starts_at: datetime
    ends_at: datetime
    expired_at: datetime | None


@strawberry.type(name="PlannedCollection")
class PlannedCollectionType:
    id: strawberry.ID
    machine_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    created_by: str


@strawberry.type
class AlertPayload(Payload):
    alert: AlertType | None = None
    reopens: bool = strawberry.field(
        default=False,
        description="resolveAlert: the condition still holds, so the next evaluation opens "
        "a new alert.",
    )


@strawberry.type
class UpdateAlertRulePayload(Payload):
    rule: AlertRuleSettingsType | None = None


@strawberry.type
class SilencePayload(Payload):
    silence: SilenceType | None = None


@strawberry.type
class ScheduleCollectionPayload(Payload):
    collection: PlannedCollectionType | None = None


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@strawberry.type(name="AlertChangedEvent", description="A transition of an alert in scope.")
class AlertChangedEvent(LiveEventInterface):
    is_type_of = envelopes_of(EventType.ALERT_CHANGED)
    rule: AlertRule | None
    subject: str | None
    state: AlertState | None
    severity: AlertSeverity | None
    summary: str | None
    occurrences: int | None
    flapping: bool | None

    @strawberry.field(description="The alert's id; query `alert(id)` for all of it.")
    def alert_id(self, root: strawberry.Parent[Envelope]) -> strawberry.ID | None:
        return root.payload.get("id")

    @strawberry.field
    def transition(self, root: strawberry.Parent[Envelope]) -> AlertTransitionType | None:
        entry = root.payload.get("transition")
        return {**entry, "at": _at(entry["at"])} if entry else None  # type: ignore[return-value]
