"""Root Mutation fields of the alerts: translate inputs, call resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from graph.alerts.inputs import CreateSilenceInput, ScheduleCollectionInput, UpdateAlertRuleInput
from graph.alerts.types import (
    AlertPayload,
    ScheduleCollectionPayload,
    SilencePayload,
    UpdateAlertRulePayload,
)
from graph.common import given
from graph.context import Info
from resolvers.alerts.incidents import ManualTransition, acknowledge_alert, resolve_alert
from resolvers.alerts.silences import (
    create_silence,
    expire_silence,
    schedule_collection,
    update_alert_rule,
)
from resolvers.ids import parse_object_ids


async def _by_hand(
    transition: Callable[..., Awaitable[ManualTransition]],
    info: Info,
    incident_id: str,
    comment: str | None,
) -> AlertPayload:
    """A transition made by hand (acknowledge, resolve), as the payload both answer with."""
    done = await transition(
        principal=info.context.require_principal(), incident_id=incident_id, comment=comment
    )
    return AlertPayload(alert=done.incident, reopens=done.reopens)  # type: ignore[arg-type]


@strawberry.type
class AlertMutations:
    @strawberry.mutation(description="FIRING -> ACKNOWLEDGED: someone is on it.")
    async def acknowledge_alert(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> AlertPayload:
        return await _by_hand(acknowledge_alert, info, id, comment)

    @strawberry.mutation(
        description="Close an alert by hand; if its condition still holds the next evaluation "
        "opens a new one (reopens: true)."
    )
    async def resolve_alert(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> AlertPayload:
        return await _by_hand(resolve_alert, info, id, comment)

    @strawberry.mutation
    async def update_alert_rule(
        self, info: Info, input: UpdateAlertRuleInput
    ) -> UpdateAlertRulePayload:
        changes = {name: given(value) for name, value in vars(input).items() if name != "rule"}
        rule = await update_alert_rule(
            principal=info.context.require_principal(), rule=input.rule, changes=changes
        )
        return UpdateAlertRulePayload(rule=rule)  # type: ignore[arg-type]

    @strawberry.mutation(description="Record matching alerts without notifying, up to 7 days.")
    async def create_silence(self, info: Info, input: CreateSilenceInput) -> SilencePayload:
        silence = await create_silence(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(input.shop_ids) or [],
            machine_ids=parse_object_ids(input.machine_ids) or [],
            rules=list(input.rules),
            reason=input.reason,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        )
        return SilencePayload(silence=silence)  # type: ignore[arg-type]

    @strawberry.mutation(description="End a silence now.")
    async def expire_silence(self, info: Info, id: strawberry.ID) -> SilencePayload:
        silence = await expire_silence(principal=info.context.require_principal(), silence_id=id)
        return SilencePayload(silence=silence)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="A cash collection: door and unit-removal events are expected then."
    )
    async def schedule_collection(
        self, info: Info, input: ScheduleCollectionInput
    ) -> ScheduleCollectionPayload:
        collection = await schedule_collection(
            principal=info.context.require_principal(),
            machine_id=input.machine_id,
            starts_at=input.from_,
            ends_at=input.to,
        )
        return ScheduleCollectionPayload(collection=collection)  # type: ignore[arg-type]
