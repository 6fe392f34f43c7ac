"""Root Query fields of machine health."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.health.types import FleetHealthType
from resolvers.health.fleet_health import fleet_health
from resolvers.ids import parse_object_ids


@strawberry.type
class HealthQueries:
    @strawberry.field(
        description="Connectivity and status counts over the caller's machines (decommissioned "
        "ones apart), and the machines that need attention, most urgent first."
    )
    async def fleet_health(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        attention_limit: int = 100,
    ) -> FleetHealthType:
        return await fleet_health(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            settings=info.context.settings,
            attention_limit=attention_limit,
        )
