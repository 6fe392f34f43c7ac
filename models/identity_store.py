"""Data functions over users and API keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from models.identity import ApiKey, User
from models.scope import Scope


class DuplicateEmail(Exception):
    """A user with this e-mail already exists in the organization."""


MAX_ACCOUNTS_PER_LOGIN = 20


async def find_users_by_email(email: str) -> list[User]:
    """Login lookup: the accounts with this e-mail in any organization (e-mails are unique
    per organization only), at most MAX_ACCOUNTS_PER_LOGIN."""
    query = User.find(User.email == email.strip().lower()).sort("_id")
    return await query.limit(MAX_ACCOUNTS_PER_LOGIN).to_list()


async def find_user_for_authentication(user_id: ObjectId) -> User | None:
    """Authentication lookup by the id a verified token names (before any scope is known)."""
    return await User.get(user_id)


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


async def find_api_key_by_key_id(key_id: str) -> ApiKey | None:
    """Authentication lookup by the public key id (before any scope is known)."""
    return await ApiKey.find_one(ApiKey.key_id == key_id)


async def rehash_api_key(*, key_id: str, old_hash: str, new_hash: str) -> None:
    """Move a key's stored hash to the current pepper (only if it is still `old_hash`)."""
    await ApiKey.get_pymongo_collection().update_one(
        {"key_id": key_id, "secret_hash": old_hash}, {"$set": {"secret_hash": new_hash}}
    )


async def touch_api_key(*, key_id: ObjectId, at: datetime, resolution: timedelta) -> None:
    """Record a use, unless one within `resolution` is already recorded (no write then)."""
    await ApiKey.get_pymongo_collection().update_one(
        {
            "_id": key_id,
            "$or": [{"last_used_at": None}, {"last_used_at": {"$lt": at - resolution}}],
        },
        {"$set": {"last_used_at": at}},
    )


async def list_api_keys(*, scope: Scope, shop_ids: list[ObjectId] | None) -> list[ApiKey]:
    """Keys of the shops in scope (optionally narrowed), newest first."""
    query = scope.narrowed(shop_ids=shop_ids).filter(machine_field=None)
    return await ApiKey.find(query).sort("-created_at", "-_id").to_list()


async def rotate_api_key_secret(
    *,
    scope: Scope,
    key_id: ObjectId,
    expected_hash: str,
    new_hash: str,
    previous_valid_until: datetime,
    at: datetime,
) -> bool:
    """Swap in a new secret hash, keeping the current one valid until `previous_valid_until`.

    Conditional on the secret not having changed meanwhile (two rotations cannot interleave)
    and on the key not being revoked.
    """
    result = await ApiKey.get_pymongo_collection().update_one(
        {
            "_id": key_id,
            "org_id": scope.org_id,
            "secret_hash": expected_hash,
            "revoked_at": None,
        },
        {
            "$set": {
                "secret_hash": new_hash,
                "previous_secret_hash": expected_hash,
                "previous_valid_until": previous_valid_until,
                "rotated_at": at,
            }
        },
    )
    return result.modified_count == 1


async def list_users(*, scope: Scope) -> list[User]:
    return await User.find({"org_id": scope.org_id}).sort("email").to_list()


async def update_user(*, scope: Scope, user_id: ObjectId, changes: dict[str, Any]) -> User | None:
    """Apply `changes` to the organization's user; the updated user, or None if not found."""
    result = await User.get_pymongo_collection().update_one(
        {"_id": user_id, "org_id": scope.org_id}, {"$set": changes}
    )
    if result.matched_count == 0:
        return None
    return await get_user(scope=scope, user_id=user_id)


async def find_invited_user(*, invite_hashes: list[str]) -> User | None:
    """The user with this pending invitation (no scope: the token is the credential)."""
    return await User.find_one({"invite_hash": {"$in": invite_hashes}})


async def accept_invitation(
    *, invite_hashes: list[str], password_hash: str, at: datetime
) -> User | None:
    """Set the password of the active user invited with this token, once; None if the token
    is unknown, used or lapsed. Takes no scope: the token is the credential."""
    doc = await User.get_pymongo_collection().find_one_and_update(
        {"invite_hash": {"$in": invite_hashes}, "invite_expires_at": {"$gt": at}, "active": True},
        {"$set": {"password_hash": password_hash, "invite_hash": None, "invite_expires_at": None}},
    )
    return None if doc is None else User.model_validate(doc)
