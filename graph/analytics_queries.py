"""Root Query fields of the analytics (mixed into `graph.queries.Query`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graph.context import Info
from graph.types.analytics import (
    CashFlowGroupBy,
    CashFlowInterval,
    CashFlowType,
    DenominationBreakdownType,
    OverviewType,
)
from graph.types.forecast import ReplenishmentForecastType
from models.analytics_store import GroupKey
from resolvers.analytics.breakdown import denomination_breakdown
from resolvers.analytics.buckets import Interval
from resolvers.analytics.cash_flow import cash_flow
from resolvers.analytics.forecast import replenishment_forecast
from resolvers.analytics.overview import overview
from resolvers.ids import parse_object_ids


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="Headline numbers of the caller's scope, per currency.")
    async def overview(
        self, info: Info, currency: str | None = None, top: int = 10
    ) -> OverviewType:
        result = await overview(
            principal=info.context.require_principal(), currency=currency, top=top
        )
        return OverviewType.from_overview(result)

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
        interval: CashFlowInterval = Interval.DAY,  # type: ignore[valid-type]
        group_by: CashFlowGroupBy = GroupKey.NONE,  # type: ignore[valid-type]
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
        currency: str | None = None,
        timezone: str | None = None,
    ) -> CashFlowType:
        flow = await cash_flow(
            principal=info.context.require_principal(),
            start=from_,
            end=to,
            interval=Interval(interval),
            group_by=GroupKey(group_by),
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
            currency=currency,
            timezone=timezone,
        )
        return CashFlowType.from_flow(flow)

    @strawberry.field(description="Pieces and value per denomination, now or at `at`.")
    async def denomination_breakdown(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
        at: datetime | None = None,
    ) -> DenominationBreakdownType:
        result = await denomination_breakdown(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
            at=at,
        )
        return DenominationBreakdownType.from_breakdown(result)

    @strawberry.field(description="Threshold crossings and recommended cash runs per machine.")
    async def replenishment_forecast(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        horizon_hours: int = 48,
    ) -> ReplenishmentForecastType:
        result = await replenishment_forecast(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            horizon_hours=horizon_hours,
        )
        return ReplenishmentForecastType.from_forecast(result)
