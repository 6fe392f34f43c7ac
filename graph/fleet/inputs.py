"""Inputs and payloads of the shop and machine mutations."""

from __future__ import annotations

import strawberry

from graph.common import Payload
from graph.enums import CashKind, MachineModel
from graph.fleet.types import MachineType, OrganizationType, ShopType
from graph.scalars import Long


@strawberry.input
class CreateShopInput:
    name: str
    code: str = strawberry.field(description="Unique within the organization.")
    timezone: str | None = strawberry.field(default=None, description="IANA name; org default.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217; org default.")


@strawberry.type
class CreateShopPayload(Payload):
    shop: ShopType | None = None


@strawberry.input
class SlotLimitsInput:
    kind: CashKind
    denomination: int
    capacity: int
    near_empty: int
    near_full: int


@strawberry.input
class RegisterMachineInput:
    shop_id: strawberry.ID
    serial: str
    model: MachineModel
    currency: str | None = strawberry.field(default=None, description="Defaults to the shop's.")
    name: str | None = None
    first_seq: Long = strawberry.field(
        default=1, description="First seq the local system will send; gaps count from here."
    )
    limits: list[SlotLimitsInput] | None = strawberry.field(
        default=None, description="Overrides of the model's default limits per denomination."
    )


@strawberry.type
class RegisterMachinePayload(Payload):
    machine: MachineType | None = None


@strawberry.input
class OpeningIntervalInput:
    weekday: int = strawberry.field(description="ISO weekday: 1 Monday ... 7 Sunday.")
    opens: str = strawberry.field(description="Local time HH:MM.")
    closes: str = strawberry.field(description="Local time HH:MM, after opens; 24:00 allowed.")


@strawberry.input
class AddressInput:
    line1: str
    line2: str | None = None
    postal_code: str | None = None
    city: str
    region: str | None = None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")


@strawberry.input
class CoordinatesInput:
    latitude: float
    longitude: float


@strawberry.input(description="Health thresholds; a null one is inherited.")
class HealthOverridesInput:
    heartbeat_interval_seconds: int | None = None
    offline_grace_seconds: int | None = None
    stale_after_seconds: int | None = None


@strawberry.input(description="Only the fields given change; null clears address/coordinates.")
class UpdateShopInput:
    shop_id: strawberry.ID
    name: str | None = strawberry.UNSET
    opening_hours: list[OpeningIntervalInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the shop's hours; [] means unknown."
    )
    address: AddressInput | None = strawberry.UNSET
    coordinates: CoordinatesInput | None = strawberry.UNSET
    health: HealthOverridesInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the shop's overrides."
    )


@strawberry.type
class UpdateShopPayload(Payload):
    shop: ShopType | None = None


@strawberry.input(description="Only the fields given change.")
class UpdateMachineInput:
    machine_id: strawberry.ID
    name: str | None = strawberry.UNSET
    limits: list[SlotLimitsInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Overrides per denomination; others keep theirs."
    )


@strawberry.input
class MoveMachineInput:
    machine_id: strawberry.ID
    shop_id: strawberry.ID = strawberry.field(description="A shop of the same organization.")


@strawberry.input
class DecommissionMachineInput:
    machine_id: strawberry.ID
    reason: str | None = None


@strawberry.type
class MachinePayload(Payload):
    machine: MachineType | None = None


@strawberry.type
class UpdateHealthSettingsPayload(Payload):
    organization: OrganizationType | None = None
