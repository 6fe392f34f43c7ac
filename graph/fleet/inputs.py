"""Inputs and payloads of the shop and machine mutations."""

from __future__ import annotations

import strawberry

from graph.common import Payload
from graph.enums import CashKind, MachineModel
from graph.fleet.types import MachineType, ShopType
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
