"""Organization, shops, machines and their live inventory.

Each type reads its source by field name (graph.common): `Organization`, `Shop` and
`Machine` documents, and the inventory views of resolvers.fleet.inventory (or the same shapes
as mappings, in live events).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.enums import CashKind, FillStatus, MachineModel
from graph.scalars import Long
from models.machine import Machine
from models.organization import Shop


@strawberry.type(name="Organization")
class OrganizationType:
    id: strawberry.ID
    name: str
    currency: str
    timezone: str
    created_at: datetime


@strawberry.type(name="Shop")
class ShopType:
    id: strawberry.ID
    name: str
    code: str
    timezone: str
    currency: str
    created_at: datetime

    @strawberry.field(description="Machines of this shop that the caller may see.")
    async def machines(self, info: Info, root: strawberry.Parent[Shop]) -> list[MachineType]:
        return await info.context.loaders.fleet.machines_by_shop.load(root.id)


@strawberry.type(name="Machine")
class MachineType:
    id: strawberry.ID
    serial: str
    name: str | None
    model: MachineModel
    currency: str
    first_seq: Long
    created_at: datetime

    @strawberry.field
    async def shop(self, info: Info, root: strawberry.Parent[Machine]) -> ShopType | None:
        return await info.context.loaders.fleet.shop_by_id.load(root.shop_id)

    @strawberry.field(description="Live cash held, per denomination.")
    async def inventory(self, info: Info, root: strawberry.Parent[Machine]) -> MachineInventoryType:
        return await info.context.loaders.fleet.inventory_by_machine.load(root)


@strawberry.type(name="DenominationInventory")
class DenominationInventoryType:
    kind: CashKind
    denomination: int = strawberry.field(description="Face value in minor units.")
    count: int = strawberry.field(description="Pieces held; negative means records disagree.")
    capacity: int
    near_empty: int
    near_full: int
    status: FillStatus
    value: Long = strawberry.field(description="denomination x count, in minor units.")


@strawberry.type(name="MachineInventory")
class MachineInventoryType:
    currency: str
    denominations: list[DenominationInventoryType]
    total_value: Long
    total_pieces: Long
    updated_at: datetime | None
    chain_position: Long
    machine: MachineType


@strawberry.type(name="CurrencyTotal", description="A total in one currency; never mixed.")
class CurrencyTotalType:
    currency: str
    value: Long
    pieces: Long


@strawberry.type(name="InventoryReport")
class InventoryReportType:
    machines: list[MachineInventoryType]
    totals: list[CurrencyTotalType]
