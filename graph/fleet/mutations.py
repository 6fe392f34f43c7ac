"""Root Mutation fields of the fleet: translate inputs, call resolvers."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.fleet.inputs import (
    CreateShopInput,
    CreateShopPayload,
    RegisterMachineInput,
    RegisterMachinePayload,
)
from models.currencies import slot_key
from models.machine import SlotLimits
from resolvers.fleet.machines import register_machine
from resolvers.fleet.shops import add_shop


@strawberry.type
class FleetMutations:
    @strawberry.mutation
    async def create_shop(self, info: Info, input: CreateShopInput) -> CreateShopPayload:
        shop = await add_shop(
            principal=info.context.require_principal(),
            name=input.name,
            code=input.code,
            timezone=input.timezone,
            currency=input.currency,
        )
        return CreateShopPayload(shop=shop)

    @strawberry.mutation
    async def register_machine(
        self, info: Info, input: RegisterMachineInput
    ) -> RegisterMachinePayload:
        limits = None
        if input.limits is not None:
            limits = {
                slot_key(lim.kind, lim.denomination): SlotLimits.model_construct(
                    capacity=lim.capacity, near_empty=lim.near_empty, near_full=lim.near_full
                )
                for lim in input.limits
            }
        machine = await register_machine(
            principal=info.context.require_principal(),
            shop_id=input.shop_id,
            serial=input.serial,
            model=input.model,
            currency=input.currency,
            name=input.name,
            first_seq=input.first_seq,
            limits=limits,
        )
        return RegisterMachinePayload(machine=machine)
