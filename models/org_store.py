"""Scope-taking data functions over organizations and shops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from models.organization import Organization, Shop
from models.scope import Scope, id_first
from models.writes import set_returning


class DuplicateShopCode(Exception):
    """A shop with this code already exists in the organization."""


async def get_organization(*, scope: Scope) -> Organization | None:
    return await Organization.get(scope.org_id)


async def set_audit_witness_keys(*, scope: Scope, keys: list[str]) -> None:
    await Organization.get_pymongo_collection().update_one(
        {"_id": scope.org_id}, {"$set": {"audit_witness_keys": keys}}
    )


async def insert_organization(org: Organization) -> Organization:
    """A new tenant (operators' tools: there is no scope before the organization exists)."""
    await org.insert()
    return org


async def count_organizations() -> int:
    return await Organization.count()


async def list_shops(*, scope: Scope, shop_ids: Sequence[ObjectId] | None = None) -> list[Shop]:
    """Shops in scope, optionally narrowed to `shop_ids` (never widened)."""
    query: dict[str, Any] = {"org_id": scope.org_id}
    allowed = scope.narrowed(shop_ids=shop_ids).shop_ids
    if allowed is not None:
        query["_id"] = {"$in": sorted(allowed)}
    return await Shop.find(id_first(query)).sort("name", "_id").to_list()


async def get_shop(*, scope: Scope, shop_id: ObjectId) -> Shop | None:
    if not scope.allows_shop(shop_id):
        return None
    return await Shop.find_one({"_id": shop_id, "org_id": scope.org_id})


async def create_shop(*, scope: Scope, shop: Shop) -> Shop:
    """Insert `shop` into the scope's organization; raises DuplicateShopCode."""
    shop.org_id = scope.org_id
    try:
        await shop.insert()
    except DuplicateKeyError as exc:
        raise DuplicateShopCode(shop.code) from exc
    return shop


async def list_organizations() -> list[Organization]:
    """Every organization (operators' tools only: requests are always scoped to one)."""
    return await Organization.find({}).sort("name", "_id").to_list()


async def shops_by_timezone() -> dict[str, list[ObjectId]]:
    """`time zone -> shop ids` over every organization (operators' jobs: the checkpoint
    scheduler's end-of-day runs)."""
    zones: dict[str, list[ObjectId]] = {}
    async for doc in Shop.get_pymongo_collection().find({}, {"timezone": 1}):
        zones.setdefault(doc["timezone"], []).append(doc["_id"])
    return zones


async def update_shop(*, scope: Scope, shop_id: ObjectId, changes: dict[str, Any]) -> Shop | None:
    """Set `changes` (stored field -> stored value) on a shop in scope; the shop afterwards,
    or None when it is not in scope."""
    if not scope.allows_shop(shop_id):
        return None
    return await set_returning(Shop, {"_id": shop_id, "org_id": scope.org_id}, changes)


async def set_organization_health(*, scope: Scope, health: dict[str, Any]) -> Organization | None:
    """Replace the organization's health thresholds; the organization afterwards."""
    return await set_returning(Organization, {"_id": scope.org_id}, {"health": health})
