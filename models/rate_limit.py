"""Token buckets stored in MongoDB, so a limit holds across every worker process.

One document per bucket (`_id` = bucket name). Each take is ONE atomic `findOneAndUpdate`
with an update pipeline that refills by elapsed server time (`$$NOW`, so worker clocks do not
matter), takes a token when one is there, and records whether it did. No read-modify-write
race is possible between processes. Idle buckets expire through a TTL index (`models.schema`).

A bucket's first use creates it full with an insert-only upsert (`$setOnInsert`), and only
then takes. Taking with `upsert=True` directly is not safe: when several first uses race,
the upserts that lose the insert are not all retried as updates, and a bucket of 5 let 1 to 4
of 10 concurrent first takes through (measured on SecantusDB).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

COLLECTION = "rate_buckets"


@dataclass(frozen=True)
class BucketResult:
    """Whether a token was taken; when not, seconds until one is available."""

    allowed: bool
    retry_after: float


def _idle_ms(capacity: float, per_second: float) -> int:
    # Kept until a full refill would have happened anyway, then the TTL index drops it.
    return int(capacity / per_second * 1000) + 60_000


def _take_pipeline(capacity: float, per_second: float) -> list[dict[str, Any]]:
    now_ms = {"$toLong": "$$NOW"}
    elapsed_s = {"$divide": [{"$subtract": [now_ms, {"$ifNull": ["$ts", now_ms]}]}, 1000]}
    refilled = {
        "$min": [
            capacity,
            {"$add": [{"$ifNull": ["$tokens", capacity]}, {"$multiply": [elapsed_s, per_second]}]},
        ]
    }
    return [
        {"$set": {"tokens": refilled, "ts": now_ms}},
        {"$set": {"allowed": {"$gte": ["$tokens", 1]}}},
        {
            "$set": {
                "tokens": {"$cond": ["$allowed", {"$subtract": ["$tokens", 1]}, "$tokens"]},
                "expires_at": {"$add": ["$$NOW", _idle_ms(capacity, per_second)]},
            }
        },
    ]


async def _create_full(
    db: AsyncDatabase, bucket: str, *, capacity: float, per_second: float
) -> None:
    """Create `bucket` full unless it exists; racing creators leave exactly one document."""
    expires_at = datetime.now(UTC) + timedelta(milliseconds=_idle_ms(capacity, per_second))
    with suppress(DuplicateKeyError):
        await db[COLLECTION].update_one(
            {"_id": bucket},
            {"$setOnInsert": {"tokens": float(capacity), "expires_at": expires_at}},
            upsert=True,
        )


async def take_token(
    db: AsyncDatabase, bucket: str, *, capacity: float, per_second: float
) -> BucketResult:
    """Take one token from `bucket` (created full on first use)."""
    pipeline = _take_pipeline(capacity, per_second)
    doc = await db[COLLECTION].find_one_and_update(
        {"_id": bucket}, pipeline, return_document=ReturnDocument.AFTER
    )
    if doc is None:
        await _create_full(db, bucket, capacity=capacity, per_second=per_second)
        doc = await db[COLLECTION].find_one_and_update(
            {"_id": bucket}, pipeline, return_document=ReturnDocument.AFTER
        )
    if doc is None:
        raise RuntimeError(f"rate bucket {bucket} vanished right after it was created")
    if doc["allowed"]:
        return BucketResult(True, 0.0)
    return BucketResult(False, round(max(1.0 - doc["tokens"], 0.0) / per_second, 3))
