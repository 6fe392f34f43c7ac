"""Idempotency records of ingest requests (`ingest_batches`), scope-taking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.db import get_database
from models.ledger import BatchStatus, IngestBatch
from models.scope import Scope


def _batches() -> AsyncCollection:
    return IngestBatch.get_pymongo_collection()


def _key_filter(scope: Scope, machine_id: ObjectId, key: str) -> dict[str, Any]:
    return {"org_id": scope.org_id, "machine_id": machine_id, "idempotency_key": key}


async def claim_batch(
    *,
    scope: Scope,
    machine_id: ObjectId,
    key: str,
    fingerprint: str,
    owner: str,
    now: datetime,
    lease_until: datetime,
    expires_at: datetime,
) -> dict[str, Any] | None:
    """Claim the key for this request. Returns None when claimed, else the existing record.

    An existing IN_PROGRESS record with the same fingerprint is taken over atomically when
    its lease has ended or its process is known dead (`models.inflight`: no heartbeat for a
    few seconds), so a crashed worker's batch is retried long before its lease ends; the
    caller then owns it and None is returned.
    """
    inflight = get_database().inflight
    if inflight is not None:
        await inflight.mark_active()  # recorded before the claim names it
    doc = {
        **_key_filter(scope, machine_id, key),
        "fingerprint": fingerprint,
        "status": BatchStatus.IN_PROGRESS.value,
        "owner": owner,
        "process": inflight.process if inflight is not None else None,
        "lease_until": lease_until,
        "response": None,
        "created_at": now,
        "expires_at": expires_at,
    }
    while True:
        try:
            await _batches().insert_one(dict(doc))
            return None
        except DuplicateKeyError:
            pass
        taken = await _batches().find_one_and_update(
            {
                **_key_filter(scope, machine_id, key),
                "fingerprint": fingerprint,
                "status": BatchStatus.IN_PROGRESS.value,
                "lease_until": {"$lt": now},
            },
            {"$set": {"owner": owner, "lease_until": lease_until}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is not None:
            return None
        existing = await _batches().find_one(_key_filter(scope, machine_id, key))
        if existing is not None and not await _orphaned(existing, fingerprint):
            return existing
        if existing is not None:
            taken = await _batches().find_one_and_update(
                {**_key_filter(scope, machine_id, key), "owner": existing["owner"]},
                {"$set": {"owner": owner, "process": doc["process"], "lease_until": lease_until}},
            )
            if taken is not None:
                return None
        # Released or expired between our insert and this read: try to claim it again.


async def _orphaned(existing: dict[str, Any], fingerprint: str) -> bool:
    """An unfinished claim of the same payload whose process is gone."""
    inflight = get_database().inflight
    return (
        inflight is not None
        and existing["status"] == BatchStatus.IN_PROGRESS.value
        and existing["fingerprint"] == fingerprint
        and existing.get("process") is not None
        and not await inflight.is_alive(existing["process"])
    )


async def complete_batch(
    *,
    scope: Scope,
    machine_id: ObjectId,
    key: str,
    owner: str,
    response: dict[str, Any],
    session: AsyncClientSession,
) -> bool:
    """Store the response, in the ingest transaction; False if the claim was lost."""
    result = await _batches().update_one(
        {
            **_key_filter(scope, machine_id, key),
            "owner": owner,
            "status": BatchStatus.IN_PROGRESS.value,
        },
        {"$set": {"status": BatchStatus.COMPLETED.value, "response": response}},
        session=session,
    )
    return result.modified_count == 1


async def release_batch(*, scope: Scope, machine_id: ObjectId, key: str, owner: str) -> None:
    """Drop an unfinished claim so the client's retry can start over at once."""
    await _batches().delete_one(
        {
            **_key_filter(scope, machine_id, key),
            "owner": owner,
            "status": BatchStatus.IN_PROGRESS.value,
        }
    )
