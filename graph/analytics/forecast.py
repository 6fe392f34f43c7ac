"""Replenishment forecast types: read resolvers.analytics.forecast dataclasses by name."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.enums import Action, CashKind, FillStatus
from graph.fleet.types import MachineType, ShopType
from resolvers.analytics.forecast import MachineForecast, SlotForecast, Threshold


def _hours_to(threshold: Threshold) -> object:
    def resolve(root: strawberry.Parent[SlotForecast]) -> float | None:
        return root.hours_to[threshold]

    return strawberry.field(resolver=resolve)


def _limit(root: strawberry.Parent[SlotForecast], info: strawberry.Info) -> int:
    """A threshold of the slot's limits, under the field's name."""
    return getattr(root.limits, info.python_name)


@strawberry.type(name="DenominationForecast")
class DenominationForecastType:
    kind: CashKind
    denomination: int
    count: int
    status: FillStatus
    expected_net_per_hour: float = strawberry.field(
        description="Mean expected organic net flow in pieces per hour over the horizon."
    )
    hours_to_near_empty: float | None = _hours_to(Threshold.NEAR_EMPTY)  # type: ignore[assignment]
    hours_to_empty: float | None = _hours_to(Threshold.EMPTY)  # type: ignore[assignment]
    hours_to_near_full: float | None = _hours_to(Threshold.NEAR_FULL)  # type: ignore[assignment]
    hours_to_full: float | None = _hours_to(Threshold.FULL)  # type: ignore[assignment]
    action: Action
    quantity: int = strawberry.field(description="Pieces to bring or take away; 0 for NONE.")
    deadline: datetime | None
    capacity: int = strawberry.field(resolver=_limit)
    near_empty: int = strawberry.field(resolver=_limit)
    near_full: int = strawberry.field(resolver=_limit)


@strawberry.type(name="MachineForecast")
class MachineForecastType:
    next_deadline: datetime | None = strawberry.field(
        description="The earliest deadline of any recommended action."
    )
    machine: MachineType

    @strawberry.field
    def currency(self, root: strawberry.Parent[MachineForecast]) -> str:
        return root.machine.currency

    @strawberry.field
    def denominations(
        self, root: strawberry.Parent[MachineForecast]
    ) -> list[DenominationForecastType]:
        return root.slots  # type: ignore[return-value]

    @strawberry.field
    async def shop(self, info: Info, root: strawberry.Parent[MachineForecast]) -> ShopType | None:
        return await info.context.loaders.fleet.shop_by_id.load(root.machine.shop_id)


@strawberry.type(name="ReplenishmentForecast")
class ReplenishmentForecastType:
    generated_at: datetime
    horizon_hours: int
    lookback_weeks: int
    machines: list[MachineForecastType]
