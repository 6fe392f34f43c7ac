"""Data functions over users and API keys."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from models.identity import ApiKey, User
from models.scope import Scope


class DuplicateEmail(Exception):
    """A user with this e-mail already exists."""


async def find_user_by_email(email: str) -> User | None:
    """Login lookup: by e-mail across tenants (e-mails are globally unique)."""
    return await User.find_one(User.email == email.strip().lower())


async def get_user(*, scope: Scope, user_id: ObjectId) -> User | None:
    return await User.find_one({"_id": user_id, "org_id": scope.org_id})


async def create_user(*, scope: Scope, user: User) -> User:
    user.org_id = scope.org_id
    user.email = user.email.strip().lower()
    try:
        await user.insert()
    except DuplicateKeyError as exc:
        raise DuplicateEmail(user.email) from exc
    return user


async def create_api_key(*, scope: Scope, key: ApiKey) -> ApiKey:
    key.org_id = scope.org_id
    await key.insert()
    return key


async def get_api_key(*, scope: Scope, key_id: ObjectId) -> ApiKey | None:
    key = await ApiKey.find_one({"_id": key_id, "org_id": scope.org_id})
    if key is None or not scope.allows_shop(key.shop_id):
        return None
    return key


async def mark_api_key_revoked(*, scope: Scope, key_id: ObjectId, at: datetime) -> bool:
    result = await ApiKey.get_pymongo_collection().update_one(
        {"_id": key_id, "org_id": scope.org_id, "revoked_at": None},
        {"$set": {"revoked_at": at}},
    )
    return result.modified_count == 1
