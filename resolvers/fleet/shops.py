"""Shops: creation with validation, scoped reads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from config import Settings
from models.org_store import DuplicateShopCode, create_shop, get_shop, list_shops
from models.org_store import update_shop as store_shop_update
from models.organization import Address, Coordinates, HealthSettings, Shop
from resolvers.errors import CommonErrorCode, UserError, already_exists, not_found, raise_if_any
from resolvers.fleet.opening_hours import OpeningInterval, parse_opening_hours
from resolvers.fleet.organizations import find_organization
from resolvers.health.lifecycle import refresh_thresholds
from resolvers.health.settings import check_health_settings
from resolvers.identity.security_log import SecurityAction, store_update
from resolvers.ids import parse_object_id
from resolvers.updates import UNCHANGED, Unchanged
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


MAX_ADDRESS_LINE = 200
MAX_ADDRESS_PART = 100


@dataclass(frozen=True)
class ShopUpdate:
    """What `updateShop` changes; every field left UNCHANGED keeps its value. `health`
    replaces the shop's overrides (a None threshold inherits the organization's)."""

    name: str | Unchanged = UNCHANGED
    opening_hours: list[OpeningInterval] | Unchanged = UNCHANGED
    address: Address | Unchanged | None = UNCHANGED
    coordinates: Coordinates | Unchanged | None = UNCHANGED
    health: HealthSettings | Unchanged = UNCHANGED


def _address_problems(address: Address) -> list[UserError | None]:
    country_ok = (
        len(address.country) == 2 and address.country.isalpha() and address.country.isupper()
    )
    return [
        check_name("input.address.line1", address.line1, max_length=MAX_ADDRESS_LINE),
        check_name("input.address.city", address.city, max_length=MAX_ADDRESS_PART),
        *(
            check_name(f"input.address.{name}", value, max_length=MAX_ADDRESS_PART)
            for name, value in (
                ("line2", address.line2),
                ("postalCode", address.postal_code),
                ("region", address.region),
            )
            if value is not None
        ),
        None
        if country_ok
        else UserError(
            "input.address.country", CommonErrorCode.INVALID, "an ISO 3166 code such as DE"
        ),
    ]


def _coordinates_problems(point: Coordinates) -> list[UserError | None]:
    def within(field: str, value: float, bound: float) -> UserError | None:
        if math.isfinite(value) and -bound <= value <= bound:
            return None
        return UserError(field, CommonErrorCode.INVALID, f"must be -{bound:g} to {bound:g}")

    return [
        within("input.coordinates.latitude", point.latitude, 90),
        within("input.coordinates.longitude", point.longitude, 180),
    ]


async def update_shop(
    *, principal: Principal, shop_id: str, update: ShopUpdate, settings: Settings
) -> Shop:
    """Change a shop of the caller's scope; raises naming each bad field. New health
    thresholds apply to the shop's machines at once."""
    shop = await find_shop(principal=principal, shop_id=shop_id)
    if shop is None:
        raise not_found("shop", field="input.shopId")
    changes: dict[str, Any] = {}
    problems: list[UserError | None] = []
    if not isinstance(update.name, Unchanged):
        problems.append(check_name("input.name", update.name))
        changes["name"] = update.name.strip()
    if not isinstance(update.opening_hours, Unchanged):
        hours, hour_problems = parse_opening_hours("input.openingHours", update.opening_hours)
        problems.extend(hour_problems)
        changes["opening_hours"] = [h.model_dump() for h in hours]
    if not isinstance(update.address, Unchanged):
        if update.address is not None:
            problems.extend(_address_problems(update.address))
        changes["address"] = update.address.model_dump() if update.address else None
    if not isinstance(update.coordinates, Unchanged):
        if update.coordinates is not None:
            problems.extend(_coordinates_problems(update.coordinates))
        changes["coordinates"] = update.coordinates.model_dump() if update.coordinates else None
    if not isinstance(update.health, Unchanged):
        problems.extend(check_health_settings("input.health", update.health))
        changes["health"] = update.health.model_dump()
    raise_if_any(problems)
    updated = await store_update(
        principal,
        SecurityAction.SHOP_UPDATED,
        current=shop,
        changes=changes,
        write=partial(store_shop_update, scope=principal.scope, shop_id=shop.id),
        what="shop",
        field="input.shopId",
        target_kind="shop",
    )
    if "health" in changes:
        await refresh_thresholds(scope=principal.scope, shop_ids=[shop.id], settings=settings)
    return updated
