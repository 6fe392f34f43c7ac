"""The security audit log: hash-chained events per organization, and their data functions.

Each organization has its own chain (`position` 1, 2, 3 ...; `prev_hash`, `hash`) and a head
document holding the newest position and hash, so deleting the newest events is detectable,
and the compact range of the chain's Merkle log (`audit_compact`, docs/audit.md).
Events that belong to no organization (e.g. a failed login for an unknown e-mail) go to the
global chain under `GLOBAL_CHAIN`, which no tenant can read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from bson import ObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from models.organization import utcnow
from models.scope import Scope

GLOBAL_CHAIN = ObjectId("000000000000000000000000")
HEADS = "security_log_heads"


class HeadMoved(Exception):
    """Another append committed first; re-read the head and try again."""


class SecurityEvent(Document):
    """One security-relevant action. `details` holds short strings only (never secrets)."""

    org_id: PydanticObjectId
    position: int
    prev_hash: str
    hash: str
    action: str
    actor_kind: str | None = None
    actor_id: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    client_address: str | None = None
    details: dict[str, str] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "security_events"
        indexes = [IndexModel([("org_id", ASCENDING), ("position", ASCENDING)], unique=True)]


async def read_head(chain: ObjectId, *, session: AsyncClientSession) -> dict[str, Any] | None:
    """The chain's head (`position`, `hash`) inside the caller's transaction."""
    collection = SecurityEvent.get_pymongo_collection().database[HEADS]
    return await collection.find_one({"_id": chain}, session=session)


async def append_event(
    event: SecurityEvent,
    *,
    expected_position: int,
    audit_compact: list[list[int | str]] | None,
    session: AsyncClientSession,
) -> None:
    """Insert `event` and move the head from `expected_position` to it, in one transaction.

    The head update is conditional, so two concurrent appends cannot both commit the same
    position (the loser's transaction aborts with a write conflict and is retried).
    """
    collection = SecurityEvent.get_pymongo_collection()
    await collection.insert_one(event.model_dump(by_alias=True, exclude={"id"}), session=session)
    head: dict[str, Any] = {"position": event.position, "hash": event.hash}
    if audit_compact is not None:
        head["audit_compact"] = audit_compact
    result = await collection.database[HEADS].update_one(
        {"_id": event.org_id, "position": expected_position},
        {"$set": head},
        upsert=expected_position == 0,
        session=session,
    )
    if result.matched_count == 0 and result.upserted_id is None:
        raise HeadMoved(event.org_id)


async def list_events(
    *, scope: Scope, before_position: int | None, limit: int
) -> list[dict[str, Any]]:
    """The organization's events, newest first, optionally before a position."""
    query: dict[str, Any] = {"org_id": scope.org_id}
    if before_position is not None:
        query["position"] = {"$lt": before_position}
    cursor = SecurityEvent.get_pymongo_collection().find(query).sort("position", DESCENDING)
    return await cursor.limit(limit).to_list()


async def iter_events(*, scope: Scope) -> Any:
    """Every event of the organization in position order (for verification)."""
    cursor = SecurityEvent.get_pymongo_collection().find({"org_id": scope.org_id})
    async for doc in cursor.sort("position", ASCENDING):
        yield doc


async def chain_head(*, scope: Scope) -> dict[str, Any] | None:
    collection = SecurityEvent.get_pymongo_collection().database[HEADS]
    return await collection.find_one({"_id": scope.org_id})
