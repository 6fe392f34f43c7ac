"""Root Query fields of the alerts."""

from __future__ import annotations

import strawberry

from graph.alerts.inputs import AlertFilterInput
from graph.alerts.types import AlertConnection, AlertRuleEntryType, AlertType, SilenceType
from graph.context import Info
from resolvers.alerts.incidents import AlertFilter, alert_page, find_alert
from resolvers.alerts.silences import alert_rules, find_silences
from resolvers.ids import parse_object_ids


@strawberry.type
class AlertQueries:
    @strawberry.field(description="Alerts in scope, newest first (Relay connection).")
    async def alerts(
        self,
        info: Info,
        filter: AlertFilterInput | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> AlertConnection:
        f = filter or AlertFilterInput()
        page = await alert_page(
            principal=info.context.require_principal(),
            filter=AlertFilter(
                states=f.states,
                severities=f.severities,
                rules=f.rules,
                shop_ids=parse_object_ids(f.shop_ids),
                machine_ids=parse_object_ids(f.machine_ids),
                opened_from=f.from_,
                opened_to=f.to,
            ),
            first=first,
            after=after,
        )
        return page  # type: ignore[return-value]

    @strawberry.field
    async def alert(self, info: Info, id: strawberry.ID) -> AlertType | None:
        return await find_alert(principal=info.context.require_principal(), incident_id=id)

    @strawberry.field(description="Every rule's settings in force for the organization.")
    async def alert_rules(self, info: Info) -> list[AlertRuleEntryType]:
        return await alert_rules(principal=info.context.require_principal())  # type: ignore[return-value]

    @strawberry.field(description="Silences of your scope; ended ones too with includeEnded.")
    async def silences(self, info: Info, include_ended: bool = False) -> list[SilenceType]:
        return await find_silences(  # type: ignore[return-value]
            principal=info.context.require_principal(), include_ended=include_ended
        )
