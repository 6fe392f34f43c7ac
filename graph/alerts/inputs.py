"""Inputs of the alerts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.enums import AlertRule, AlertSeverity, AlertState


@strawberry.input
class AlertFilterInput:
    states: list[AlertState] | None = None
    severities: list[AlertSeverity] | None = None
    rules: list[AlertRule] | None = None
    shop_ids: list[strawberry.ID] | None = None
    machine_ids: list[strawberry.ID] | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="openedAt >= from"
    )
    to: datetime | None = strawberry.field(default=None, description="openedAt < to")


@strawberry.input(description="Only the fields given change; null restores the default.")
class UpdateAlertRuleInput:
    rule: AlertRule
    enabled: bool | None = strawberry.UNSET
    severity: AlertSeverity | None = strawberry.UNSET
    hold_seconds: int | None = strawberry.UNSET
    keep_firing_seconds: int | None = strawberry.UNSET
    threshold: int | None = strawberry.UNSET


@strawberry.input(description="An empty matcher matches everything in your scope.")
class CreateSilenceInput:
    shop_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    machine_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    rules: list[AlertRule] = strawberry.field(default_factory=list)
    reason: str
    starts_at: datetime | None = strawberry.field(default=None, description="Default: now.")
    ends_at: datetime = strawberry.field(description="At most 7 days ahead.")


@strawberry.input
class ScheduleCollectionInput:
    machine_id: strawberry.ID
    from_: datetime = strawberry.field(name="from")
    to: datetime = strawberry.field(description="At most 24 hours after from.")
