"""Batched, scoped lookups behind the GraphQL DataLoaders (one query per batch)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from bson import ObjectId

from auth.principal import Principal
from models.ledger_store import list_inventory_states
from models.machine import Machine
from models.machine_store import list_machines
from models.org_store import list_shops
from models.organization import Shop
from resolvers.fleet.inventory import MachineInventoryView, machine_view


async def shops_by_ids(*, principal: Principal, ids: Sequence[ObjectId]) -> list[Shop | None]:
    found = {s.id: s for s in await list_shops(scope=principal.scope, shop_ids=list(ids))}
    return [found.get(i) for i in ids]


async def machines_by_ids(*, principal: Principal, ids: Sequence[ObjectId]) -> list[Machine | None]:
    found = {m.id: m for m in await list_machines(scope=principal.scope, machine_ids=list(ids))}
    return [found.get(i) for i in ids]


async def machines_by_shop_ids(
    *, principal: Principal, shop_ids: Sequence[ObjectId]
) -> list[list[Machine]]:
    grouped: dict[ObjectId, list[Machine]] = defaultdict(list)
    for machine in await list_machines(scope=principal.scope, shop_ids=list(shop_ids)):
        grouped[machine.shop_id].append(machine)
    return [grouped.get(i, []) for i in shop_ids]


async def inventories_for_machines(
    *, principal: Principal, machines: Sequence[Machine]
) -> list[MachineInventoryView]:
    states = {
        s["_id"]: s
        for s in await list_inventory_states(
            scope=principal.scope, machine_ids=[m.id for m in machines]
        )
    }
    return [machine_view(m, states.get(m.id)) for m in machines]
