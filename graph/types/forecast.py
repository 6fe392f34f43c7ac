"""Replenishment forecast types (thin translations of resolvers.analytics.forecast)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.types.fleet import CashKind, FillStatusEnum, MachineType, ShopType
from models.machine import Machine
from resolvers.analytics.forecast import (
    Action,
    Forecast,
    MachineForecast,
    SlotForecast,
    Threshold,
)

ForecastAction = strawberry.enum(Action, name="ForecastAction")


@strawberry.type(name="DenominationForecast")
class DenominationForecastType:
    kind: CashKind  # type: ignore[valid-type]
    denomination: int
    count: int
    capacity: int
    near_empty: int
    near_full: int
    status: FillStatusEnum  # type: ignore[valid-type]
    expected_net_per_hour: float = strawberry.field(
        description="Mean expected organic net flow in pieces per hour over the horizon."
    )
    hours_to_near_empty: float | None
    hours_to_empty: float | None
    hours_to_near_full: float | None
    hours_to_full: float | None
    action: ForecastAction  # type: ignore[valid-type]
    quantity: int = strawberry.field(description="Pieces to bring or take away; 0 for NONE.")
    deadline: datetime | None

    @classmethod
    def from_slot(cls, s: SlotForecast) -> DenominationForecastType:
        return cls(
            kind=s.kind,
            denomination=s.denomination,
            count=s.count,
            capacity=s.limits.capacity,
            near_empty=s.limits.near_empty,
            near_full=s.limits.near_full,
            status=s.status,
            expected_net_per_hour=s.expected_net_per_hour,
            hours_to_near_empty=s.hours_to[Threshold.NEAR_EMPTY],
            hours_to_empty=s.hours_to[Threshold.EMPTY],
            hours_to_near_full=s.hours_to[Threshold.NEAR_FULL],
            hours_to_full=s.hours_to[Threshold.FULL],
            action=s.action,
            quantity=s.quantity,
            deadline=s.deadline,
        )


@strawberry.type(name="MachineForecast")
class MachineForecastType:
    currency: str
    next_deadline: datetime | None = strawberry.field(
        description="The earliest deadline of any recommended action."
    )
    denominations: list[DenominationForecastType]
    source: strawberry.Private[Machine]

    @classmethod
    def from_forecast(cls, f: MachineForecast) -> MachineForecastType:
        return cls(
            currency=f.machine.currency,
            next_deadline=f.next_deadline,
            denominations=[DenominationForecastType.from_slot(s) for s in f.slots],
            source=f.machine,
        )

    @strawberry.field
    def machine(self) -> MachineType:
        return MachineType.from_model(self.source)

    @strawberry.field
    async def shop(self, info: Info) -> ShopType | None:
        shop = await info.context.loaders.shop_by_id.load(self.source.shop_id)
        return ShopType.from_model(shop) if shop else None


@strawberry.type(name="ReplenishmentForecast")
class ReplenishmentForecastType:
    generated_at: datetime
    horizon_hours: int
    lookback_weeks: int
    machines: list[MachineForecastType]

    @classmethod
    def from_forecast(cls, f: Forecast) -> ReplenishmentForecastType:
        return cls(
            generated_at=f.generated_at,
            horizon_hours=f.horizon_hours,
            lookback_weeks=f.lookback_weeks,
            machines=[MachineForecastType.from_forecast(m) for m in f.machines],
        )
