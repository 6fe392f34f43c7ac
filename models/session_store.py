"""Data functions over refresh tokens.

Lookups by token hash take no scope: the opaque token itself is the credential, and the
organization is only known once it is found.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from pymongo import ReturnDocument

from models.identity import RefreshToken, Session


async def insert_refresh_token(token: RefreshToken) -> RefreshToken:
    await token.insert()
    return token


async def claim_refresh_token(*, token_hashes: list[str], at: datetime) -> RefreshToken | None:
    """Atomically mark an unused, unrevoked, unexpired token used; None if there is none.

    Of two concurrent refreshes with the same token exactly one gets it. `token_hashes` are
    the token's hashes under every pepper still accepted.
    """
    doc = await RefreshToken.get_pymongo_collection().find_one_and_update(
        {
            "token_hash": {"$in": token_hashes},
            "used_at": None,
            "revoked_at": None,
            "expires_at": {"$gt": at},
        },
        {"$set": {"used_at": at}},
        return_document=ReturnDocument.AFTER,
    )
    return None if doc is None else RefreshToken.model_validate(doc)


async def find_refresh_token(*, token_hashes: list[str]) -> RefreshToken | None:
    return await RefreshToken.find_one({"token_hash": {"$in": token_hashes}})


async def insert_session(session: Session) -> Session:
    await session.insert()
    return session


async def extend_session(*, session_id: str, expires_at: datetime) -> None:
    """Keep an active session alive as long as its newest refresh token."""
    await Session.get_pymongo_collection().update_one(
        {"_id": session_id, "revoked_at": None}, {"$set": {"expires_at": expires_at}}
    )


async def session_active(*, session_id: str, user_id: ObjectId) -> bool:
    """Whether the user's session exists and was neither ended (logout, refresh-token reuse,
    deactivation) nor lapsed. An unknown session is not active."""
    doc = await Session.get_pymongo_collection().find_one(
        {
            "_id": session_id,
            "user_id": user_id,
            "revoked_at": None,
            "expires_at": {"$gt": datetime.now(UTC)},
        },
        projection={"_id": 1},
    )
    return doc is not None


async def revoke_family(*, family_id: str, at: datetime) -> int:
    """End a session and revoke its refresh tokens; the number of tokens newly revoked."""
    await Session.get_pymongo_collection().update_one(
        {"_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
    result = await RefreshToken.get_pymongo_collection().update_many(
        {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
    return result.modified_count


async def revoke_user_sessions(*, user_id: ObjectId, at: datetime) -> int:
    """End every session of a user and revoke their refresh tokens (deactivation); the number
    of tokens newly revoked."""
    await Session.get_pymongo_collection().update_many(
        {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
    result = await RefreshToken.get_pymongo_collection().update_many(
        {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
    )
    return result.modified_count
