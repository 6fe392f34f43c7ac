"""Analytics types: overview, cash flow series, denomination breakdown.

Each reads its resolvers.analytics dataclass by field name; methods cover the API names the
dataclasses keep in maps (amounts per transaction type).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.enums import CashKind, GroupKey, Interval, TransactionType
from graph.fleet.types import CurrencyTotalType, MachineType, ShopType
from graph.health.types import FleetHealthType
from graph.scalars import Long
from models.currencies import parse_slot
from resolvers.analytics.cash_flow import CashFlowSeries
from resolvers.analytics.overview import FlowTotals, Overview, ShopCash
from resolvers.health.fleet_health import fleet_health
from resolvers.ids import parse_object_id


@strawberry.type(name="CashHeld", description="Cash in machines in one currency (minor units).")
class CashHeldType(CurrencyTotalType):
    notes_value: Long
    coins_value: Long


def _of_type(type_: TransactionType) -> object:
    """A field read from the source's `values` under one transaction type: an amount of
    FlowTotals, a series of CashFlowSeries. The resolver has no return annotation, so the
    field's own annotation gives its type."""

    def resolve(root: strawberry.Parent[FlowTotals | CashFlowSeries]):
        return root.values[type_]

    return strawberry.field(resolver=resolve)


@strawberry.type(name="FlowTotals", description="Movements in one currency (minor units).")
class FlowTotalsType:
    currency: str
    deposits: Long = _of_type(TransactionType.DEPOSIT)  # type: ignore[assignment]
    withdrawals: Long = _of_type(TransactionType.WITHDRAWAL)  # type: ignore[assignment]
    collections: Long = _of_type(TransactionType.COLLECTION)  # type: ignore[assignment]
    replenishments: Long = _of_type(TransactionType.REPLENISHMENT)  # type: ignore[assignment]
    adjustments: Long = _of_type(TransactionType.ADJUSTMENT)  # type: ignore[assignment]
    net: Long = strawberry.field(
        description="deposits + replenishments + adjustments - withdrawals - collections."
    )
    count: int


@strawberry.type(name="ShopCash")
class ShopCashType:
    held: CashHeldType
    last_transaction_at: datetime | None

    @strawberry.field
    def machine_count(self, root: strawberry.Parent[ShopCash]) -> int:
        return root.machines

    @strawberry.field
    async def shop(self, info: Info, root: strawberry.Parent[ShopCash]) -> ShopType | None:
        return await info.context.loaders.fleet.shop_by_id.load(root.shop_id)


@strawberry.type(
    name="MachineActivity",
    description="Machines in scope, how many reported a transaction in the last 24 hours, and "
    "their health (online/offline/error counts, from fleetHealth).",
)
class MachineActivityType:
    last_transaction_at: datetime | None

    @strawberry.field(description="fleetHealth over the same scope (attention not listed).")
    async def health(self, info: Info) -> FleetHealthType:
        return await fleet_health(
            principal=info.context.require_principal(),
            shop_ids=None,
            settings=info.context.settings,
            attention_limit=0,
        )

    @strawberry.field
    def total(self, root: strawberry.Parent[Overview]) -> int:
        return root.machines_total

    @strawberry.field
    def active_last_24_hours(self, root: strawberry.Parent[Overview]) -> int:
        return root.machines_active


@strawberry.type(name="Overview")
class OverviewType:
    as_of: datetime
    timezone: str
    cash_held: list[CashHeldType]
    today: list[FlowTotalsType] = strawberry.field(
        description="Movements on today's date (in `timezone`), each shop by its local date."
    )
    month_to_date: list[FlowTotalsType]
    top_shops: list[ShopCashType] = strawberry.field(
        description="Shops by cash held, highest first, up to `top` per currency."
    )

    @strawberry.field
    def machines(self, root: strawberry.Parent[Overview]) -> MachineActivityType:
        return root  # type: ignore[return-value]


@strawberry.type(
    name="CashFlowSeries",
    description="One chart line in one currency: a value per bucket of `CashFlow.buckets`.",
)
class CashFlowSeriesType:
    currency: str
    key: str | None = strawberry.field(
        description="Shop id, machine id, transaction type or slot (N500) of the group."
    )
    deposits: list[Long] = _of_type(TransactionType.DEPOSIT)  # type: ignore[assignment]
    withdrawals: list[Long] = _of_type(TransactionType.WITHDRAWAL)  # type: ignore[assignment]
    collections: list[Long] = _of_type(TransactionType.COLLECTION)  # type: ignore[assignment]
    replenishments: list[Long] = _of_type(TransactionType.REPLENISHMENT)  # type: ignore[assignment]
    adjustments: list[Long] = _of_type(TransactionType.ADJUSTMENT)  # type: ignore[assignment]
    net: list[Long]
    count: list[int] | None = strawberry.field(
        description="Transactions per bucket; null when grouped by denomination."
    )
    pieces: list[Long] | None = strawberry.field(
        description="Net pieces per bucket; only when grouped by denomination."
    )

    @strawberry.field(description="The shop, when grouped by shop.")
    async def shop(self, info: Info, root: strawberry.Parent[CashFlowSeries]) -> ShopType | None:
        if root.group_by is not GroupKey.SHOP or root.key is None:
            return None
        return await info.context.loaders.fleet.shop_by_id.load(parse_object_id(root.key))

    @strawberry.field(description="The machine, when grouped by machine.")
    async def machine(
        self, info: Info, root: strawberry.Parent[CashFlowSeries]
    ) -> MachineType | None:
        if root.group_by is not GroupKey.MACHINE or root.key is None:
            return None
        return await info.context.loaders.fleet.machine_by_id.load(parse_object_id(root.key))

    @strawberry.field(description="The transaction type, when grouped by type.")
    def type(self, root: strawberry.Parent[CashFlowSeries]) -> TransactionType | None:
        return TransactionType(root.key) if root.group_by is GroupKey.TYPE else None

    @strawberry.field(description="Note or coin, when grouped by denomination.")
    def kind(self, root: strawberry.Parent[CashFlowSeries]) -> CashKind | None:
        if root.group_by is not GroupKey.DENOMINATION or root.key is None:
            return None
        return parse_slot(root.key)[0]

    @strawberry.field(description="Face value in minor units, when grouped by denomination.")
    def denomination(self, root: strawberry.Parent[CashFlowSeries]) -> int | None:
        if root.group_by is not GroupKey.DENOMINATION or root.key is None:
            return None
        return parse_slot(root.key)[1]


@strawberry.type(name="CashFlow")
class CashFlowType:
    interval: Interval
    group_by: GroupKey
    timezone: str
    buckets: list[datetime] = strawberry.field(
        description="Bucket starts; every series has one value per bucket, zeros included."
    )
    series: list[CashFlowSeriesType]


@strawberry.type(name="DenominationAmount")
class DenominationAmountType:
    kind: CashKind
    denomination: int
    pieces: Long
    value: Long


@strawberry.type(name="CurrencyBreakdown")
class CurrencyBreakdownType:
    currency: str
    total_value: Long
    total_pieces: Long
    denominations: list[DenominationAmountType]


@strawberry.type(name="DenominationBreakdown")
class DenominationBreakdownType:
    as_of: datetime = strawberry.field(
        description="The instant the counts describe (the start of the hour of `at`)."
    )
    currencies: list[CurrencyBreakdownType]
