"""Analytics types: overview, cash flow series, denomination breakdown. Thin translations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.scalars import Long
from graph.types.fleet import CashKind, MachineType, ShopType
from graph.types.ledger import TransactionTypeEnum
from models.analytics_store import GroupKey
from models.currencies import parse_slot
from resolvers.analytics.breakdown import Breakdown, CurrencyBreakdown, DenominationAmount
from resolvers.analytics.buckets import Interval
from resolvers.analytics.cash_flow import CashFlow, CashFlowSeries
from resolvers.analytics.overview import CashHeld, FlowTotals, Overview, ShopCash
from resolvers.ids import parse_object_id

CashFlowInterval = strawberry.enum(Interval, name="CashFlowInterval")
CashFlowGroupBy = strawberry.enum(GroupKey, name="CashFlowGroupBy")


@strawberry.type(name="CashHeld", description="Cash in machines in one currency (minor units).")
class CashHeldType:
    currency: str
    value: Long
    pieces: Long
    notes_value: Long
    coins_value: Long

    @classmethod
    def from_held(cls, held: CashHeld) -> CashHeldType:
        return cls(
            currency=held.currency,
            value=held.value,
            pieces=held.pieces,
            notes_value=held.notes_value,
            coins_value=held.coins_value,
        )


@strawberry.type(name="FlowTotals", description="Movements in one currency (minor units).")
class FlowTotalsType:
    currency: str
    deposits: Long
    withdrawals: Long
    collections: Long
    replenishments: Long
    adjustments: Long
    net: Long = strawberry.field(
        description="deposits + replenishments + adjustments - withdrawals - collections."
    )
    count: int

    @classmethod
    def from_totals(cls, totals: FlowTotals) -> FlowTotalsType:
        v = totals.values
        return cls(
            currency=totals.currency,
            deposits=v["DEPOSIT"],
            withdrawals=v["WITHDRAWAL"],
            collections=v["COLLECTION"],
            replenishments=v["REPLENISHMENT"],
            adjustments=v["ADJUSTMENT"],
            net=totals.net,
            count=totals.count,
        )


@strawberry.type(name="ShopCash")
class ShopCashType:
    held: CashHeldType
    machine_count: int
    last_transaction_at: datetime | None
    shop_id: strawberry.Private[object]

    @classmethod
    def from_shop(cls, shop: ShopCash) -> ShopCashType:
        return cls(
            held=CashHeldType.from_held(shop.held),
            machine_count=shop.machines,
            last_transaction_at=shop.last_transaction_at,
            shop_id=shop.shop_id,
        )

    @strawberry.field
    async def shop(self, info: Info) -> ShopType | None:
        shop = await info.context.loaders.shop_by_id.load(self.shop_id)
        return ShopType.from_model(shop) if shop else None


@strawberry.type(
    name="MachineActivity",
    description=(
        "Machines in scope and how many reported a transaction in the last 24 hours. "
        "Online/offline/error counts arrive with machine telemetry."
    ),
)
class MachineActivityType:
    total: int
    active_last_24_hours: int
    last_transaction_at: datetime | None


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
    machines: MachineActivityType

    @classmethod
    def from_overview(cls, o: Overview) -> OverviewType:
        return cls(
            as_of=o.as_of,
            timezone=o.timezone,
            cash_held=[CashHeldType.from_held(h) for h in o.cash_held],
            today=[FlowTotalsType.from_totals(t) for t in o.today],
            month_to_date=[FlowTotalsType.from_totals(t) for t in o.month_to_date],
            top_shops=[ShopCashType.from_shop(s) for s in o.top_shops],
            machines=MachineActivityType(
                total=o.machines_total,
                active_last_24_hours=o.machines_active,
                last_transaction_at=o.last_transaction_at,
            ),
        )


@strawberry.type(
    name="CashFlowSeries",
    description="One chart line in one currency: a value per bucket of `CashFlow.buckets`.",
)
class CashFlowSeriesType:
    currency: str
    key: str | None = strawberry.field(
        description="Shop id, machine id, transaction type or slot (N500) of the group."
    )
    deposits: list[Long]
    withdrawals: list[Long]
    collections: list[Long]
    replenishments: list[Long]
    adjustments: list[Long]
    net: list[Long]
    count: list[int] | None = strawberry.field(
        description="Transactions per bucket; null when grouped by denomination."
    )
    pieces: list[Long] | None = strawberry.field(
        description="Net pieces per bucket; only when grouped by denomination."
    )
    group_by: strawberry.Private[GroupKey]

    @classmethod
    def from_series(cls, s: CashFlowSeries, group_by: GroupKey) -> CashFlowSeriesType:
        v = s.values
        return cls(
            currency=s.currency,
            key=s.key,
            deposits=v["DEPOSIT"],  # type: ignore[arg-type]
            withdrawals=v["WITHDRAWAL"],  # type: ignore[arg-type]
            collections=v["COLLECTION"],  # type: ignore[arg-type]
            replenishments=v["REPLENISHMENT"],  # type: ignore[arg-type]
            adjustments=v["ADJUSTMENT"],  # type: ignore[arg-type]
            net=s.net,  # type: ignore[arg-type]
            count=s.count,
            pieces=s.pieces,  # type: ignore[arg-type]
            group_by=group_by,
        )

    @strawberry.field(description="The shop, when grouped by shop.")
    async def shop(self, info: Info) -> ShopType | None:
        if self.group_by is not GroupKey.SHOP or self.key is None:
            return None
        shop = await info.context.loaders.shop_by_id.load(parse_object_id(self.key))
        return ShopType.from_model(shop) if shop else None

    @strawberry.field(description="The machine, when grouped by machine.")
    async def machine(self, info: Info) -> MachineType | None:
        if self.group_by is not GroupKey.MACHINE or self.key is None:
            return None
        machine = await info.context.loaders.machine_by_id.load(parse_object_id(self.key))
        return MachineType.from_model(machine) if machine else None

    @strawberry.field(description="The transaction type, when grouped by type.")
    def type(self) -> TransactionTypeEnum | None:  # type: ignore[valid-type]
        return TransactionTypeEnum(self.key) if self.group_by is GroupKey.TYPE else None

    @strawberry.field(description="Note or coin, when grouped by denomination.")
    def kind(self) -> CashKind | None:  # type: ignore[valid-type]
        if self.group_by is not GroupKey.DENOMINATION or self.key is None:
            return None
        return parse_slot(self.key)[0]

    @strawberry.field(description="Face value in minor units, when grouped by denomination.")
    def denomination(self) -> int | None:
        if self.group_by is not GroupKey.DENOMINATION or self.key is None:
            return None
        return parse_slot(self.key)[1]


@strawberry.type(name="CashFlow")
class CashFlowType:
    interval: CashFlowInterval  # type: ignore[valid-type]
    group_by: CashFlowGroupBy  # type: ignore[valid-type]
    timezone: str
    buckets: list[datetime] = strawberry.field(
        description="Bucket starts; every series has one value per bucket, zeros included."
    )
    series: list[CashFlowSeriesType]

    @classmethod
    def from_flow(cls, flow: CashFlow) -> CashFlowType:
        return cls(
            interval=flow.interval,
            group_by=flow.group_by,
            timezone=flow.timezone,
            buckets=flow.buckets,
            series=[CashFlowSeriesType.from_series(s, flow.group_by) for s in flow.series],
        )


@strawberry.type(name="DenominationAmount")
class DenominationAmountType:
    kind: CashKind  # type: ignore[valid-type]
    denomination: int
    pieces: Long
    value: Long

    @classmethod
    def from_amount(cls, a: DenominationAmount) -> DenominationAmountType:
        return cls(kind=a.kind, denomination=a.denomination, pieces=a.pieces, value=a.value)


@strawberry.type(name="CurrencyBreakdown")
class CurrencyBreakdownType:
    currency: str
    total_value: Long
    total_pieces: Long
    denominations: list[DenominationAmountType]

    @classmethod
    def from_breakdown(cls, b: CurrencyBreakdown) -> CurrencyBreakdownType:
        return cls(
            currency=b.currency,
            total_value=b.total_value,
            total_pieces=b.total_pieces,
            denominations=[DenominationAmountType.from_amount(a) for a in b.denominations],
        )


@strawberry.type(name="DenominationBreakdown")
class DenominationBreakdownType:
    as_of: datetime = strawberry.field(
        description="The instant the counts describe (the start of the hour of `at`)."
    )
    currencies: list[CurrencyBreakdownType]

    @classmethod
    def from_breakdown(cls, b: Breakdown) -> DenominationBreakdownType:
        return cls(
            as_of=b.as_of,
            currencies=[CurrencyBreakdownType.from_breakdown(c) for c in b.currencies],
        )
