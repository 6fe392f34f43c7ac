"""DataLoaders created per request, named `<Thing>By<Key>Loader`; all scoped to the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bson import ObjectId
from strawberry.dataloader import DataLoader

from models.machine import Machine
from models.organization import Shop
from resolvers.inventory import MachineInventoryView
from resolvers.lookups import (
    inventories_for_machines,
    machines_by_ids,
    machines_by_shop_ids,
    shops_by_ids,
)

if TYPE_CHECKING:
    from graph.context import Context


class Loaders:
    """Every loader of one request; they read the principal lazily from the context."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.shop_by_id: DataLoader[ObjectId, Shop | None] = DataLoader(self._shops)
        self.machines_by_shop: DataLoader[ObjectId, list[Machine]] = DataLoader(self._machines)
        self.machine_by_id: DataLoader[ObjectId, Machine | None] = DataLoader(self._machine)
        self.inventory_by_machine: DataLoader[Machine, MachineInventoryView] = DataLoader(
            self._inventories, cache_key_fn=lambda m: m.id
        )

    async def _shops(self, ids: list[ObjectId]) -> list[Shop | None]:
        return await shops_by_ids(principal=self._context.require_principal(), ids=ids)

    async def _machines(self, shop_ids: list[ObjectId]) -> list[list[Machine]]:
        return await machines_by_shop_ids(
            principal=self._context.require_principal(), shop_ids=shop_ids
        )

    async def _machine(self, ids: list[ObjectId]) -> list[Machine | None]:
        return await machines_by_ids(principal=self._context.require_principal(), ids=ids)

    async def _inventories(self, machines: list[Machine]) -> list[MachineInventoryView]:
        return await inventories_for_machines(
            principal=self._context.require_principal(), machines=machines
        )
