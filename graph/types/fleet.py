"""Organization, shops, machines and their live inventory."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.scalars import Long
from models.currencies import CashKind as ModelCashKind
from models.machine import Machine, MachineModel
from models.organization import Organization, Shop
from resolvers.inventory import (
    CurrencyTotal,
    FillStatus,
    InventoryReport,
    MachineInventoryView,
    SlotInventory,
)

MachineModelEnum = strawberry.enum(MachineModel, name="MachineModel")
FillStatusEnum = strawberry.enum(FillStatus, name="FillStatus")


CashKind = strawberry.enum(
    ModelCashKind, name="CashKind", description="Whether a denomination is a note or a coin."
)


@strawberry.type(name="Organization")
class OrganizationType:
    id: strawberry.ID
    name: str
    currency: str
    timezone: str
    created_at: datetime

    @classmethod
    def from_model(cls, org: Organization) -> OrganizationType:
        return cls(
            id=strawberry.ID(str(org.id)),
            name=org.name,
            currency=org.currency,
            timezone=org.timezone,
            created_at=org.created_at,
        )


@strawberry.type(name="Shop")
class ShopType:
    id: strawberry.ID
    name: str
    code: str
    timezone: str
    currency: str
    created_at: datetime
    source: strawberry.Private[Shop]

    @classmethod
    def from_model(cls, shop: Shop) -> ShopType:
        return cls(
            id=strawberry.ID(str(shop.id)),
            name=shop.name,
            code=shop.code,
            timezone=shop.timezone,
            currency=shop.currency,
            created_at=shop.created_at,
            source=shop,
        )

    @strawberry.field(description="Machines of this shop that the caller may see.")
    async def machines(self, info: Info) -> list[MachineType]:
        machines = await info.context.loaders.machines_by_shop.load(self.source.id)
        return [MachineType.from_model(m) for m in machines]


@strawberry.type(name="SlotLimits", description="Capacity and fill thresholds, in pieces.")
class SlotLimitsType:
    capacity: int
    near_empty: int
    near_full: int


@strawberry.type(name="Machine")
class MachineType:
    id: strawberry.ID
    serial: str
    name: str | None
    model_name: MachineModelEnum = strawberry.field(name="model")  # type: ignore[valid-type]
    currency: str
    first_seq: Long
    created_at: datetime
    source: strawberry.Private[Machine]

    @classmethod
    def from_model(cls, machine: Machine) -> MachineType:
        return cls(
            id=strawberry.ID(str(machine.id)),
            serial=machine.serial,
            name=machine.name,
            model_name=machine.model,
            currency=machine.currency,
            first_seq=machine.first_seq,
            created_at=machine.created_at,
            source=machine,
        )

    @strawberry.field
    async def shop(self, info: Info) -> ShopType | None:
        shop = await info.context.loaders.shop_by_id.load(self.source.shop_id)
        return ShopType.from_model(shop) if shop else None

    @strawberry.field(description="Live cash held, per denomination.")
    async def inventory(self, info: Info) -> MachineInventoryType:
        view = await info.context.loaders.inventory_by_machine.load(self.source)
        return MachineInventoryType.from_view(view)


@strawberry.type(name="DenominationInventory")
class DenominationInventoryType:
    kind: CashKind  # type: ignore[valid-type]
    denomination: int = strawberry.field(description="Face value in minor units.")
    count: int = strawberry.field(description="Pieces held; negative means records disagree.")
    capacity: int
    near_empty: int
    near_full: int
    status: FillStatusEnum  # type: ignore[valid-type]
    value: Long = strawberry.field(description="denomination x count, in minor units.")

    @classmethod
    def from_slot(cls, slot: SlotInventory) -> DenominationInventoryType:
        return cls(
            kind=slot.kind,
            denomination=slot.denomination,
            count=slot.count,
            capacity=slot.limits.capacity,
            near_empty=slot.limits.near_empty,
            near_full=slot.limits.near_full,
            status=slot.status,
            value=slot.value,
        )


@strawberry.type(name="MachineInventory")
class MachineInventoryType:
    currency: str
    denominations: list[DenominationInventoryType]
    total_value: Long
    total_pieces: Long
    updated_at: datetime | None
    chain_position: Long
    view: strawberry.Private[MachineInventoryView]

    @classmethod
    def from_view(cls, view: MachineInventoryView) -> MachineInventoryType:
        return cls(
            currency=view.currency,
            denominations=[DenominationInventoryType.from_slot(s) for s in view.slots],
            total_value=view.total_value,
            total_pieces=view.total_pieces,
            updated_at=view.updated_at,
            chain_position=view.chain_position,
            view=view,
        )

    @strawberry.field
    def machine(self) -> MachineType:
        return MachineType.from_model(self.view.machine)


@strawberry.type(name="CurrencyTotal", description="A total in one currency; never mixed.")
class CurrencyTotalType:
    currency: str
    value: Long
    pieces: Long

    @classmethod
    def from_total(cls, total: CurrencyTotal) -> CurrencyTotalType:
        return cls(currency=total.currency, value=total.value, pieces=total.pieces)


@strawberry.type(name="InventoryReport")
class InventoryReportType:
    machines: list[MachineInventoryType]
    totals: list[CurrencyTotalType]

    @classmethod
    def from_report(cls, report: InventoryReport) -> InventoryReportType:
        return cls(
            machines=[MachineInventoryType.from_view(v) for v in report.machines],
            totals=[CurrencyTotalType.from_total(t) for t in report.totals],
        )
