"""Data functions over the telemetry log, the twins and the machine events.

Every function that serves a caller takes the caller's `Scope`; the evaluator's
`twins_due_for_check` is the one system-wide read (it decides nothing by itself: each
transition it leads to is a compare-and-set on one twin).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.duplicates import duplicates_raised_as_duplicate_key
from models.health import MachineEventRecord, MachineTwin, TelemetryRecord, unsettled_shop_of
from models.scope import Scope, id_first


class TwinChanged(Exception):
    """Another writer saved the twin first (its version moved, or it was created)."""


def _twins() -> AsyncCollection:
    return MachineTwin.get_pymongo_collection()


def _one_twin(scope: Scope, machine_id: ObjectId) -> dict[str, Any]:
    query = scope.filter(machine_field="_id")
    allowed = scope.machine_ids is None or machine_id in scope.machine_ids
    query["_id"] = machine_id if allowed else {"$in": []}
    return id_first(query)


async def find_twin(
    *, scope: Scope, machine_id: ObjectId, session: AsyncClientSession | None = None
) -> dict[str, Any] | None:
    return await _twins().find_one(_one_twin(scope, machine_id), session=session)


async def list_twins(
    *, scope: Scope, machine_ids: Sequence[ObjectId] | None = None
) -> list[dict[str, Any]]:
    """Twins of the machines in scope (optionally only `machine_ids`)."""
    query = scope.narrowed(machine_ids=machine_ids).filter(machine_field="_id")
    return await _twins().find(query).to_list(length=None)


async def save_twin(
    *,
    scope: Scope,
    twin: dict[str, Any],
    expected_version: int,
    session: AsyncClientSession | None = None,
) -> None:
    """Store `twin` (with its version advanced) if the stored one still has
    `expected_version` (0: there is none yet); raises TwinChanged otherwise."""
    twin["version"] = expected_version + 1
    derived = {**twin, "late_or_offline_shop_id": unsettled_shop_of(twin)}
    # A sparse-indexed field that is None is left out (MachineTwin.SPARSE).
    stored = {k: v for k, v in derived.items() if v is not None or k not in MachineTwin.SPARSE}
    if expected_version == 0:
        try:
            await _twins().insert_one(stored, session=session)
        except DuplicateKeyError as exc:
            raise TwinChanged(str(twin["_id"])) from exc
        return
    query = _one_twin(scope, twin["_id"])
    query["version"] = expected_version
    replacement = {k: v for k, v in stored.items() if k != "_id"}
    result = await _twins().replace_one(query, replacement, session=session)
    if result.matched_count != 1:
        raise TwinChanged(str(twin["_id"]))


async def known_event_ids(
    *,
    scope: Scope,
    machine_id: ObjectId,
    event_ids: Sequence[str],
    session: AsyncClientSession,
) -> set[str]:
    """Which of `event_ids` the machine's telemetry log already holds."""
    query = scope.filter(machine_field="machine_id")
    query.update(machine_id=machine_id, event_id={"$in": list(event_ids)})
    cursor = TelemetryRecord.get_pymongo_collection().find(
        query, {"event_id": 1, "_id": 0}, session=session
    )
    return {doc["event_id"] async for doc in cursor}


async def insert_telemetry(documents: list[dict[str, Any]], *, session: AsyncClientSession) -> None:
    if documents:
        with duplicates_raised_as_duplicate_key():
            await TelemetryRecord.get_pymongo_collection().insert_many(documents, session=session)


async def insert_machine_events(
    documents: list[dict[str, Any]], *, session: AsyncClientSession | None = None
) -> None:
    if documents:
        with duplicates_raised_as_duplicate_key():
            await MachineEventRecord.get_pymongo_collection().insert_many(
                documents, session=session
            )


async def twins_due_for_check(*, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Twins (of every organization) whose connectivity may have changed by `now`, the most
    overdue first."""
    cursor = (
        _twins()
        .find({"next_check_at": {"$lt": now}})
        .sort([("next_check_at", ASCENDING)])
        .limit(limit)
    )
    return await cursor.to_list(length=None)


async def list_machine_events(
    *,
    scope: Scope,
    machine_id: ObjectId,
    after_number: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A machine's recorded events in order, after event `after_number`."""
    query = scope.filter(machine_field="machine_id")
    query.update(machine_id=machine_id, number={"$gt": after_number})
    cursor = (
        MachineEventRecord.get_pymongo_collection()
        .find(query)
        .sort([("org_id", ASCENDING), ("machine_id", ASCENDING), ("number", ASCENDING)])
        .limit(limit)
    )
    return await cursor.to_list(length=None)


async def set_twin_shop(
    *, scope: Scope, machine_id: ObjectId, shop_id: ObjectId, session: AsyncClientSession
) -> None:
    """Move a twin to another shop of the organization (the machine moved)."""
    await _twins().update_one(
        _one_twin(scope, machine_id), {"$set": {"shop_id": shop_id}}, session=session
    )
