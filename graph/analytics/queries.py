"""Root Query fields of the analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graph.analytics.forecast import ReplenishmentForecastType
from graph.analytics.types import CashFlowType, DenominationBreakdownType, OverviewType
from graph.context import Info
from graph.enums import GroupKey, Interval
from resolvers.analytics.breakdown import denomination_breakdown
from resolvers.analytics.cash_flow import cash_flow
from resolvers.analytics.forecast import replenishment_forecast
from resolvers.analytics.overview import overview
from resolvers.ids import parse_object_ids


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="Headline numbers of the caller's scope, per currency.")
    async def overview(
        self, info: Info, currency: str | None = None, top: int = 10
    ) -> OverviewType:
        return await overview(
            principal=info.context.require_principal(), currency=currency, top=top
        )

    @strawberry.field(
        description=(
            "Cash movements per bucket intersecting [from, to), zero-filled, one series per "
            "currency and group. Buckets align to `timezone` (default: the organization's)."
        )
    )
    async def cash_flow(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        interval: Interval = Interval.DAY,
        group_by: GroupKey = GroupKey.NONE,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
        currency: str | None = None,
        timezone: str | None = None,
    ) -> CashFlowType:
        return await cash_flow(
            principal=info.context.require_principal(),
            start=from_,
            end=to,
            interval=interval,
            group_by=group_by,
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
            currency=currency,
            timezone=timezone,
        )

    @strawberry.field(description="Pieces and value per denomination, now or at `at`.")
    async def denomination_breakdown(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
        at: datetime | None = None,
    ) -> DenominationBreakdownType:
        return await denomination_breakdown(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
            at=at,
        )

    @strawberry.field(description="Threshold crossings and recommended cash runs per machine.")
    async def replenishment_forecast(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        horizon_hours: int = 48,
    ) -> ReplenishmentForecastType:
        return await replenishment_forecast(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            horizon_hours=horizon_hours,
        )
