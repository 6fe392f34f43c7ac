"""Scoped single-entity reads for the GraphQL query fields."""

from __future__ import annotations

from bson import ObjectId

from auth.errors import NotFound
from auth.principal import Principal
from models.identity import User
from models.identity_store import get_user
from models.machine import Machine
from models.machine_store import get_machine
from models.org_store import get_organization, get_shop, list_shops
from models.organization import Organization, Shop
from resolvers.ids import parse_object_id


async def find_organization(*, principal: Principal) -> Organization:
    org = await get_organization(scope=principal.scope)
    if org is None:
        raise NotFound("organization not found")
    return org


async def find_shops(*, principal: Principal, shop_ids: list[ObjectId] | None) -> list[Shop]:
    return await list_shops(scope=principal.scope, shop_ids=shop_ids)


async def find_shop(*, principal: Principal, shop_id: str) -> Shop | None:
    """The shop, or None when it does not exist or is outside the caller's scope."""
    oid = parse_object_id(shop_id)
    return await get_shop(scope=principal.scope, shop_id=oid) if oid else None


async def find_machine(*, principal: Principal, machine_id: str) -> Machine | None:
    """The machine, or None when it does not exist or is outside the caller's scope."""
    oid = parse_object_id(machine_id)
    return await get_machine(scope=principal.scope, machine_id=oid) if oid else None


async def find_me(*, principal: Principal) -> User:
    user = await get_user(scope=principal.scope, user_id=principal.actor_id)
    if user is None:
        raise NotFound("user not found")
    return user
