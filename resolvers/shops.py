"""Shops and machines: creation with validation, scoped reads."""

from __future__ import annotations

from auth.principal import Principal
from models.currencies import get_currency
from models.machine import Machine, MachineModel, SlotLimits, default_limits
from models.machine_store import DuplicateSerial, create_machine
from models.org_store import DuplicateShopCode, create_shop, get_organization, get_shop
from models.organization import Shop
from resolvers.errors import ErrorCode, UserError
from resolvers.ids import parse_object_id
from resolvers.validation import check_currency, check_name, check_timezone, collect

MAX_CODE_LENGTH = 32


async def add_shop(
    *,
    principal: Principal,
    name: str,
    code: str,
    timezone: str | None,
    currency: str | None,
) -> Shop | list[UserError]:
    """A new shop in the caller's organization; time zone and currency default to the org's."""
    org = await get_organization(scope=principal.scope)
    if org is None:
        return [UserError(None, ErrorCode.NOT_FOUND, "organization not found")]
    timezone = timezone or org.timezone
    currency = currency or org.currency
    errors = collect(
        check_name("input.name", name),
        check_name("input.code", code, max_length=MAX_CODE_LENGTH),
        check_timezone("input.timezone", timezone),
        check_currency("input.currency", currency),
    )
    if errors:
        return errors
    try:
        return await create_shop(
            scope=principal.scope,
            shop=Shop(
                org_id=org.id,
                name=name.strip(),
                code=code.strip(),
                timezone=timezone,
                currency=currency,
            ),
        )
    except DuplicateShopCode:
        return [
            UserError(
                "input.code",
                ErrorCode.ALREADY_EXISTS,
                f"shop code {code!r} is already used in this organization",
            )
        ]


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
) -> Machine | list[UserError]:
    """A new machine in a shop of the caller's scope, with default limits for its model.

    `limits` overrides the defaults per slot key (`N500`, `C100`).
    """
    shop_oid = parse_object_id(shop_id)
    shop = await get_shop(scope=principal.scope, shop_id=shop_oid) if shop_oid else None
    if shop is None:
        return [UserError("input.shopId", ErrorCode.NOT_FOUND, "shop not found")]
    currency = currency or shop.currency
    errors = collect(
        check_name("input.serial", serial, max_length=64),
        check_currency("input.currency", currency),
    )
    if first_seq < 1:
        errors.append(UserError("input.firstSeq", ErrorCode.INVALID, "must be at least 1"))
    if errors:
        return errors
    catalog_currency = get_currency(currency)
    assert catalog_currency is not None
    merged = default_limits(model, catalog_currency)
    for slot, lim in (limits or {}).items():
        if slot not in merged:
            errors.append(
                UserError(
                    "input.limits",
                    ErrorCode.INVALID,
                    f"{slot} is not a {currency} denomination slot",
                )
            )
        elif not lim.near_empty < lim.near_full <= lim.capacity:
            errors.append(
                UserError(
                    "input.limits",
                    ErrorCode.INVALID,
                    f"{slot}: need nearEmpty < nearFull <= capacity",
                )
            )
        else:
            merged[slot] = lim
    if errors:
        return errors
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
    except DuplicateSerial:
        return [
            UserError(
                "input.serial",
                ErrorCode.ALREADY_EXISTS,
                f"serial {serial!r} is already registered in this organization",
            )
        ]
