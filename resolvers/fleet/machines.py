"""Machines: registration with per-model limits, scoped reads."""

from __future__ import annotations

from auth.principal import Principal
from models.currencies import get_currency
from models.machine import MAX_SLOT_PIECES, Machine, MachineModel, SlotLimits, default_limits
from models.machine_store import DuplicateSerial, create_machine, get_machine
from models.scope import Scope
from resolvers.errors import (
    CommonErrorCode,
    ServiceError,
    UserError,
    already_exists,
    not_found,
    raise_if_any,
)
from resolvers.fleet.errors import FleetErrorCode
from resolvers.fleet.shops import find_shop
from resolvers.ids import parse_object_id
from resolvers.validation import check_currency, check_name

MAX_SERIAL_LENGTH = 64


def merged_limits(
    defaults: dict[str, SlotLimits], overrides: dict[str, SlotLimits], currency: str
) -> dict[str, SlotLimits]:
    """The model's defaults with `overrides` per slot; raises naming each bad slot."""
    problems: list[UserError] = []
    merged = dict(defaults)
    for slot, limits in overrides.items():
        if slot not in merged:
            message = f"{slot} is not a {currency} denomination slot"
        elif not 0 <= limits.near_empty < limits.near_full <= limits.capacity <= MAX_SLOT_PIECES:
            message = f"{slot}: need 0 <= nearEmpty < nearFull <= capacity <= {MAX_SLOT_PIECES}"
        else:
            merged[slot] = limits
            continue
        problems.append(UserError("input.limits", CommonErrorCode.INVALID, message))
    raise_if_any(problems)
    return merged


async def register_machine(
    *,
    principal: Principal,
    shop_id: str,
    serial: str,
    model: MachineModel,
    currency: str | None,
    name: str | None,
    first_seq: int,
    limits: dict[str, SlotLimits] | None = None,
) -> Machine:
    """A new machine in a shop of the caller's scope, with default limits for its model.

    `limits` overrides the defaults per slot key (`N500`, `C100`).
    """
    shop = await find_shop(principal=principal, shop_id=shop_id)
    if shop is None:
        raise not_found("shop", field="input.shopId")
    currency = currency or shop.currency
    raise_if_any(
        check_name("input.serial", serial, max_length=MAX_SERIAL_LENGTH),
        check_currency("input.currency", currency),
        None
        if first_seq >= 1
        else UserError("input.firstSeq", CommonErrorCode.INVALID, "must be at least 1"),
    )
    catalog_currency = get_currency(currency)
    assert catalog_currency is not None
    merged = merged_limits(default_limits(model, catalog_currency), limits or {}, currency)
    try:
        return await create_machine(
            scope=principal.scope,
            machine=Machine(
                org_id=shop.org_id,
                shop_id=shop.id,
                serial=serial.strip(),
                model=model,
                currency=currency,
                name=name,
                limits=merged,
                first_seq=first_seq,
            ),
        )
    except DuplicateSerial as exc:
        raise already_exists(
            f"serial {serial!r} is already registered in this organization", field="input.serial"
        ) from exc


async def machine_for_key(*, principal: Principal, machine_id: str) -> Machine:
    """The machine a shop's local system reports for (`input.machineId`): NOT_FOUND unless
    it is a machine of the caller's organization, MACHINE_NOT_COVERED unless the caller (an
    API key) covers it. Nothing is stored for a refused request."""
    oid = parse_object_id(machine_id)
    machine = (
        await get_machine(scope=Scope.organization(principal.org_id), machine_id=oid)
        if oid is not None
        else None
    )
    if machine is None:
        raise not_found("machine", field="input.machineId")
    if not principal.scope.allows_machine(machine.id, machine.shop_id):
        raise ServiceError.of(
            FleetErrorCode.MACHINE_NOT_COVERED,
            "this API key does not cover the machine; nothing was stored",
            field="input.machineId",
        )
    return machine


async def find_machine(*, principal: Principal, machine_id: str) -> Machine | None:
    """The machine, or None when it does not exist or is outside the caller's scope."""
    oid = parse_object_id(machine_id)
    return await get_machine(scope=principal.scope, machine_id=oid) if oid else None
