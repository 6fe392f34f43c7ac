"""Writes the stores share: one document set and read back, and many documents of a
collection that transactions also write updated or deleted one by one.

Many documents never with one non-transactional multi-document write (`update_many`,
`delete_many`): on the embedded server such an update that meets a transaction's uncommitted
write retries while holding the collection's lock, and the transaction's next statement on that
collection waits for the lock, so neither ends and every command behind them waits too (a
py-spy dump of the hung server in a simulator faults run showed exactly these two threads). One
single-document update per document releases the lock between retries. MongoDB itself has no
such lock; the cost there is a few more operations in one bulk write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from beanie import Document
from pymongo import DeleteOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

DocumentT = TypeVar("DocumentT", bound=Document)


async def set_returning(
    model: type[DocumentT], query: Mapping[str, Any], changes: Mapping[str, Any]
) -> DocumentT | None:
    """`$set` `changes` (stored field -> stored value) on the first document of `model` that
    `query` finds; that document afterwards, or None when `query` finds none."""
    doc = await model.get_pymongo_collection().find_one_and_update(
        dict(query), {"$set": dict(changes)}, return_document=ReturnDocument.AFTER
    )
    return None if doc is None else model.model_validate(doc)


async def update_each(
    collection: AsyncCollection,
    ids: Iterable[Any],
    condition: Mapping[str, Any],
    update: Mapping[str, Any],
) -> int:
    """Apply `update` to each document of `ids` that matches `condition`, one
    single-document update each, in one unordered bulk write; the number modified."""
    writes = [UpdateOne({"_id": i, **condition}, dict(update)) for i in ids]
    if not writes:
        return 0
    return (await collection.bulk_write(writes, ordered=False)).modified_count


async def update_matching(
    collection: AsyncCollection, query: Mapping[str, Any], update: Mapping[str, Any]
) -> int:
    """`update_each` over the documents `query` finds now (each update keeps `query` as its
    condition); the number modified."""
    ids = [doc["_id"] async for doc in collection.find(query, {"_id": 1})]
    return await update_each(collection, ids, query, update)


async def delete_matching(collection: AsyncCollection, query: Mapping[str, Any]) -> int:
    """`delete_each` over the documents `query` finds now; the number deleted."""
    ids = [doc["_id"] async for doc in collection.find(query, {"_id": 1})]
    return await delete_each(collection, ids, query)


async def delete_each(
    collection: AsyncCollection, ids: Iterable[Any], condition: Mapping[str, Any]
) -> int:
    """Delete each document of `ids` that matches `condition`, one single-document delete
    each, in one unordered bulk write; the number deleted."""
    writes = [DeleteOne({"_id": i, **condition}) for i in ids]
    if not writes:
        return 0
    return (await collection.bulk_write(writes, ordered=False)).deleted_count
