"""Root Mutation fields of the fleet: translate inputs, call resolvers."""

from __future__ import annotations

import strawberry

from graph.common import given
from graph.context import Info
from graph.fleet.inputs import (
    AddressInput,
    CoordinatesInput,
    CreateShopInput,
    CreateShopPayload,
    DecommissionMachineInput,
    HealthOverridesInput,
    MachinePayload,
    MoveMachineInput,
    OpeningIntervalInput,
    RegisterMachineInput,
    RegisterMachinePayload,
    SlotLimitsInput,
    UpdateHealthSettingsPayload,
    UpdateMachineInput,
    UpdateShopInput,
    UpdateShopPayload,
)
from models.currencies import slot_key
from models.machine import SlotLimits
from models.organization import Address, Coordinates, HealthSettings
from resolvers.fleet.machine_changes import change_machine, decommission, relocate_machine
from resolvers.fleet.machines import register_machine
from resolvers.fleet.opening_hours import OpeningInterval
from resolvers.fleet.organizations import update_health_settings
from resolvers.fleet.shops import ShopUpdate, add_shop, update_shop
from resolvers.updates import UNCHANGED


def _limits(items: list[SlotLimitsInput]) -> dict[str, SlotLimits]:
    return {
        slot_key(lim.kind, lim.denomination): SlotLimits.model_construct(
            capacity=lim.capacity, near_empty=lim.near_empty, near_full=lim.near_full
        )
        for lim in items
    }


def _health(value: HealthOverridesInput | None) -> HealthSettings:
    return HealthSettings(**vars(value)) if value is not None else HealthSettings()


def _opening_hours(items: list[OpeningIntervalInput]) -> list[OpeningInterval]:
    return [OpeningInterval(i.weekday, i.opens, i.closes) for i in items]


def _address(value: AddressInput) -> Address:
    return Address.model_construct(**vars(value))


def _coordinates(value: CoordinatesInput) -> Coordinates:
    return Coordinates.model_construct(**vars(value))


@strawberry.type
class FleetMutations:
    @strawberry.mutation
    async def create_shop(self, info: Info, input: CreateShopInput) -> CreateShopPayload:
        shop = await add_shop(principal=info.context.require_principal(), **vars(input))
        return CreateShopPayload(shop=shop)

    @strawberry.mutation
    async def register_machine(
        self, info: Info, input: RegisterMachineInput
    ) -> RegisterMachinePayload:
        limits = _limits(input.limits) if input.limits is not None else None
        machine = await register_machine(
            principal=info.context.require_principal(), **{**vars(input), "limits": limits}
        )
        return RegisterMachinePayload(machine=machine)

    @strawberry.mutation(description="Name, opening hours, address, location, health overrides.")
    async def update_shop(self, info: Info, input: UpdateShopInput) -> UpdateShopPayload:
        update = ShopUpdate(
            name=given(input.name, null=UNCHANGED),
            opening_hours=given(input.opening_hours, _opening_hours, null=[]),
            address=given(input.address, _address),
            coordinates=given(input.coordinates, _coordinates),
            health=given(input.health, _health, null=HealthSettings()),
        )
        shop = await update_shop(
            principal=info.context.require_principal(),
            shop_id=input.shop_id,
            update=update,
            settings=info.context.settings,
        )
        return UpdateShopPayload(shop=shop)

    @strawberry.mutation(description="Rename a machine or change its limits per denomination.")
    async def update_machine(self, info: Info, input: UpdateMachineInput) -> MachinePayload:
        machine = await change_machine(
            principal=info.context.require_principal(),
            machine_id=input.machine_id,
            name=given(input.name),
            limits=given(input.limits, _limits, null={}),
        )
        return MachinePayload(machine=machine)

    @strawberry.mutation(
        description="Move a machine to another shop of the organization; its history stays."
    )
    async def move_machine(self, info: Info, input: MoveMachineInput) -> MachinePayload:
        machine = await relocate_machine(principal=info.context.require_principal(), **vars(input))
        return MachinePayload(machine=machine)

    @strawberry.mutation(
        description="Retire a machine: history and chain kept, no more telemetry, not "
        "counted in fleet health."
    )
    async def decommission_machine(
        self, info: Info, input: DecommissionMachineInput
    ) -> MachinePayload:
        machine = await decommission(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return MachinePayload(machine=machine)

    @strawberry.mutation(
        description="The organization's health thresholds (null: the deployment default)."
    )
    async def update_health_settings(
        self, info: Info, input: HealthOverridesInput
    ) -> UpdateHealthSettingsPayload:
        org = await update_health_settings(
            principal=info.context.require_principal(),
            health=_health(input),
            settings=info.context.settings,
        )
        return UpdateHealthSettingsPayload(organization=org)
