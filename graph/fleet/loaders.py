"""DataLoaders of the fleet, one instance per request, all scoped to the caller."""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId
from strawberry.dataloader import DataLoader

from auth.principal import Principal
from models.machine import Machine
from models.organization import Shop
from resolvers.fleet.inventory import MachineInventoryView
from resolvers.fleet.lookups import (
    inventories_for_machines,
    machines_by_ids,
    machines_by_shop_ids,
    shops_by_ids,
)

PrincipalOf = Callable[[], Principal]


class ShopByIdLoader(DataLoader[ObjectId, Shop | None]):
    def __init__(self, principal: PrincipalOf) -> None:
        async def load(ids: list[ObjectId]) -> list[Shop | None]:
            return await shops_by_ids(principal=principal(), ids=ids)

        super().__init__(load)


class MachineByIdLoader(DataLoader[ObjectId, Machine | None]):
    def __init__(self, principal: PrincipalOf) -> None:
        async def load(ids: list[ObjectId]) -> list[Machine | None]:
            return await machines_by_ids(principal=principal(), ids=ids)

        super().__init__(load)


class MachinesByShopLoader(DataLoader[ObjectId, list[Machine]]):
    def __init__(self, principal: PrincipalOf) -> None:
        async def load(shop_ids: list[ObjectId]) -> list[list[Machine]]:
            return await machines_by_shop_ids(principal=principal(), shop_ids=shop_ids)

        super().__init__(load)


class InventoryByMachineLoader(DataLoader[Machine, MachineInventoryView]):
    def __init__(self, principal: PrincipalOf) -> None:
        async def load(machines: list[Machine]) -> list[MachineInventoryView]:
            return await inventories_for_machines(principal=principal(), machines=machines)

        super().__init__(load, cache_key_fn=lambda machine: machine.id)


class FleetLoaders:
    """The fleet's loaders of one request; they read the caller from the context lazily (a
    WebSocket's principal may change between operations)."""

    def __init__(self, principal: PrincipalOf) -> None:
        self.shop_by_id = ShopByIdLoader(principal)
        self.machine_by_id = MachineByIdLoader(principal)
        self.machines_by_shop = MachinesByShopLoader(principal)
        self.inventory_by_machine = InventoryByMachineLoader(principal)
