"""Token buckets stored in MongoDB, so a limit holds across every worker process.

One document per bucket (`_id` = bucket name). Each take is ONE atomic `findOneAndUpdate`
with an update pipeline that refills by elapsed server time (`$$NOW`, so worker clocks do not
matter), takes a token when one is there, and records whether it did. No read-modify-write
race is possible between processes. Idle buckets expire through a TTL index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

COLLECTION = "rate_buckets"
_UPSERT_ATTEMPTS = 5


@dataclass(frozen=True)
class BucketResult:
    """Whether a token was taken; when not, seconds until one is available."""

    allowed: bool
    retry_after: float


def _take_pipeline(capacity: float, per_second: float) -> list[dict[str, Any]]:
    now_ms = {"$toLong": "$$NOW"}
    elapsed_s = {"$divide": [{"$subtract": [now_ms, {"$ifNull": ["$ts", now_ms]}]}, 1000]}
    refilled = {
        "$min": [
            capacity,
            {"$add": [{"$ifNull": ["$tokens", capacity]}, {"$multiply": [elapsed_s, per_second]}]},
        ]
    }
    # Kept until a full refill would have happened anyway, then the TTL index drops it.
    idle_ms = int(capacity / per_second * 1000) + 60_000
    return [
        {"$set": {"tokens": refilled, "ts": now_ms}},
        {"$set": {"allowed": {"$gte": ["$tokens", 1]}}},
        {
            "$set": {
                "tokens": {"$cond": ["$allowed", {"$subtract": ["$tokens", 1]}, "$tokens"]},
                "expires_at": {"$add": ["$$NOW", idle_ms]},
            }
        },
    ]


async def take_token(
    db: AsyncDatabase, bucket: str, *, capacity: float, per_second: float
) -> BucketResult:
    """Take one token from `bucket` (created full on first use)."""
    pipeline = _take_pipeline(capacity, per_second)
    doc = None
    for _ in range(_UPSERT_ATTEMPTS):
        try:
            doc = await db[COLLECTION].find_one_and_update(
                {"_id": bucket}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue  # two first uses raced to insert; the document exists now: update it
        if doc is not None:
            break
    if doc is None:
        raise RuntimeError(f"rate bucket {bucket} could not be updated")
    if doc["allowed"]:
        return BucketResult(True, 0.0)
    return BucketResult(False, round(max(1.0 - doc["tokens"], 0.0) / per_second, 3))


async def ensure_rate_limit_indexes(db: AsyncDatabase) -> None:
    await db[COLLECTION].create_index("expires_at", expireAfterSeconds=0)
