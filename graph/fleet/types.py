"""Organization, shops, machines and their live inventory.

Each type reads its source by field name (graph.common): `Organization`, `Shop` and
`Machine` documents, and the inventory views of resolvers.fleet.inventory (or the same shapes
as mappings, in live events).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info
from graph.enums import CashKind, FillStatus, MachineModel
from graph.scalars import Long
from models.machine import Machine
from models.organization import Organization, Shop
from resolvers.fleet.opening_hours import shown
from resolvers.health.settings import effective_settings, organization_of

if TYPE_CHECKING:
    from graph.health.types import MachineHealthType


@strawberry.type(name="HealthSettings", description="Thresholds in force.")
class HealthSettingsType:
    heartbeat_interval_seconds: int
    offline_grace_seconds: int
    stale_after_seconds: int


@strawberry.type(
    name="HealthOverrides", description="Thresholds set at this level; null: inherited."
)
class HealthOverridesType:
    heartbeat_interval_seconds: int | None
    offline_grace_seconds: int | None
    stale_after_seconds: int | None


@strawberry.type(name="OpeningInterval")
class OpeningIntervalType:
    weekday: int = strawberry.field(description="ISO weekday: 1 Monday ... 7 Sunday.")
    opens: str = strawberry.field(description="Local time HH:MM.")
    closes: str


@strawberry.type(name="Address")
class AddressType:
    line1: str
    line2: str | None
    postal_code: str | None
    city: str
    region: str | None
    country: str


@strawberry.type(name="Coordinates")
class CoordinatesType:
    latitude: float
    longitude: float


@strawberry.type(name="Organization")
class OrganizationType:
    id: strawberry.ID
    name: str
    currency: str
    timezone: str
    created_at: datetime

    @strawberry.field
    def health_settings(
        self, info: Info, root: strawberry.Parent[Organization]
    ) -> HealthSettingsType:
        return effective_settings(info.context.settings, root, None)  # type: ignore[return-value]

    @strawberry.field
    def health_overrides(self, root: strawberry.Parent[Organization]) -> HealthOverridesType:
        return root.health  # type: ignore[return-value]


@strawberry.type(name="Shop")
class ShopType:
    id: strawberry.ID
    name: str
    code: str
    timezone: str
    currency: str
    created_at: datetime
    address: AddressType | None
    coordinates: CoordinatesType | None

    @strawberry.field(description="Opening hours in the shop's time zone; [] when unknown.")
    def opening_hours(self, root: strawberry.Parent[Shop]) -> list[OpeningIntervalType]:
        return shown(root.opening_hours)  # type: ignore[return-value]

    @strawberry.field(description="Thresholds in force for the shop's machines.")
    async def health_settings(
        self, info: Info, root: strawberry.Parent[Shop]
    ) -> HealthSettingsType:
        org = await organization_of(root)
        return effective_settings(info.context.settings, org, root)  # type: ignore[return-value]

    @strawberry.field(description="What the shop overrides of its organization's thresholds.")
    def health_overrides(self, root: strawberry.Parent[Shop]) -> HealthOverridesType:
        return root.health  # type: ignore[return-value]

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
    decommissioned_at: datetime | None
    decommission_reason: str | None

    @strawberry.field(description="Connectivity, device status, units, errors, freshness.")
    async def health(
        self, info: Info, root: strawberry.Parent[Machine]
    ) -> Annotated[MachineHealthType, strawberry.lazy("graph.health.types")]:
        return await info.context.loaders.health.health_by_machine.load(root)

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
