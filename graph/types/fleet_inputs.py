"""Inputs and payloads of the shop and machine mutations."""

from __future__ import annotations

import strawberry

from graph.scalars import Long
from graph.types.common import UserErrorType
from graph.types.fleet import CashKind, MachineModelEnum, MachineType, ShopType


@strawberry.input
class CreateShopInput:
    name: str
    code: str = strawberry.field(description="Unique within the organization.")
    timezone: str | None = strawberry.field(default=None, description="IANA name; org default.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217; org default.")


@strawberry.type
class CreateShopPayload:
    shop: ShopType | None
    user_errors: list[UserErrorType]


@strawberry.input
class SlotLimitsInput:
    kind: CashKind  # type: ignore[valid-type]
    denomination: int
    capacity: int
    near_empty: int
    near_full: int


@strawberry.input
class RegisterMachineInput:
    shop_id: strawberry.ID
    serial: str
    model: MachineModelEnum  # type: ignore[valid-type]
    currency: str | None = strawberry.field(default=None, description="Defaults to the shop's.")
    name: str | None = None
    first_seq: Long = strawberry.field(
        default=1, description="First seq the local system will send; gaps count from here."
    )
    limits: list[SlotLimitsInput] | None = strawberry.field(
        default=None, description="Overrides of the model's default limits per denomination."
    )


@strawberry.type
class RegisterMachinePayload:
    machine: MachineType | None
    user_errors: list[UserErrorType]
