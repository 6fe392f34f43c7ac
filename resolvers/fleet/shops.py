"""Shops: creation with validation, scoped reads."""

from __future__ import annotations

from bson import ObjectId

from auth.principal import Principal
from models.org_store import DuplicateShopCode, create_shop, get_shop, list_shops
from models.organization import Shop
from resolvers.errors import already_exists, raise_if_any
from resolvers.fleet.organizations import find_organization
from resolvers.ids import parse_object_id
from resolvers.validation import check_currency, check_name, check_timezone

MAX_CODE_LENGTH = 32


async def add_shop(
    *,
    principal: Principal,
    name: str,
    code: str,
    timezone: str | None,
    currency: str | None,
) -> Shop:
    """A new shop in the caller's organization; time zone and currency default to the org's."""
    org = await find_organization(principal=principal)
    timezone = timezone or org.timezone
    currency = currency or org.currency
    raise_if_any(
        check_name("input.name", name),
        check_name("input.code", code, max_length=MAX_CODE_LENGTH),
        check_timezone("input.timezone", timezone),
        check_currency("input.currency", currency),
    )
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
    except DuplicateShopCode as exc:
        raise already_exists(
            f"shop code {code!r} is already used in this organization", field="input.code"
        ) from exc


async def find_shops(*, principal: Principal, shop_ids: list[ObjectId] | None) -> list[Shop]:
    return await list_shops(scope=principal.scope, shop_ids=shop_ids)


async def find_shop(*, principal: Principal, shop_id: str) -> Shop | None:
    """The shop, or None when it does not exist or is outside the caller's scope."""
    oid = parse_object_id(shop_id)
    return await get_shop(scope=principal.scope, shop_id=oid) if oid else None
