"""Root Query fields of the fleet."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.fleet.types import InventoryReportType, MachineType, OrganizationType, ShopType
from resolvers.fleet.inventory import inventory_report
from resolvers.fleet.machines import find_machine
from resolvers.fleet.organizations import find_organization
from resolvers.fleet.shops import find_shop, find_shops
from resolvers.ids import parse_object_ids


@strawberry.type
class FleetQueries:
    @strawberry.field(description="The caller's organization.")
    async def organization(self, info: Info) -> OrganizationType:
        return await find_organization(principal=info.context.require_principal())

    @strawberry.field(description="Shops the caller may see, by name.")
    async def shops(self, info: Info, ids: list[strawberry.ID] | None = None) -> list[ShopType]:
        return await find_shops(
            principal=info.context.require_principal(), shop_ids=parse_object_ids(ids)
        )

    @strawberry.field
    async def shop(self, info: Info, id: strawberry.ID) -> ShopType | None:
        return await find_shop(principal=info.context.require_principal(), shop_id=id)

    @strawberry.field
    async def machine(self, info: Info, id: strawberry.ID) -> MachineType | None:
        return await find_machine(principal=info.context.require_principal(), machine_id=id)

    @strawberry.field(description="Live cash per machine and denomination, totals per currency.")
    async def inventory(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
    ) -> InventoryReportType:
        return await inventory_report(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
        )
