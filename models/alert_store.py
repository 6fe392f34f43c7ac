"""Data functions over alert instances, incidents, rule overrides, silences, collections.

The evaluator's reads of due machines span organizations (`due_twin_ids`); every other
function takes a `Scope`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.alerts import (
    OVERRIDABLE_RULE_FIELDS,
    AlertInstance,
    AlertRule,
    AlertRuleOverride,
    Incident,
    PlannedCollection,
    Silence,
)
from models.health import MachineTwin
from models.paging import after_key, newest_first, time_window
from models.scope import Scope, id_first
from models.writes import update_each


class InstanceChanged(Exception):
    """Another evaluator saved the alert instance first."""


def _instances():
    return AlertInstance.get_pymongo_collection()


def _incidents():
    return Incident.get_pymongo_collection()


async def instances_of_machines(
    *, org_id: ObjectId, machine_ids: Sequence[ObjectId]
) -> list[dict[str, Any]]:
    query = {"org_id": org_id, "machine_id": {"$in": list(machine_ids)}}
    return await _instances().find(query).to_list(length=None)


async def instances_by_keys(*, org_id: ObjectId, keys: Sequence[str]) -> list[dict[str, Any]]:
    query = {"org_id": org_id, "key": {"$in": list(keys)}}
    return await _instances().find(query).to_list(length=None)


async def incidents_by_ids(ids: Sequence[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not ids:
        return {}
    docs = await _incidents().find({"_id": {"$in": list(ids)}}).to_list(length=None)
    return {d["_id"]: d for d in docs}


async def save_instance(
    instance: dict[str, Any], *, expected_version: int, session: AsyncClientSession
) -> None:
    """Compare-and-set an instance (insert when `expected_version` is 0); raises
    InstanceChanged when another writer got there first."""
    instance["version"] = expected_version + 1
    if expected_version == 0:
        try:
            await _instances().insert_one(instance, session=session)
        except DuplicateKeyError as exc:
            raise InstanceChanged(instance["key"]) from exc
        return
    query = {"_id": instance["_id"], "org_id": instance["org_id"], "version": expected_version}
    replacement = {k: v for k, v in instance.items() if k != "_id"}
    result = await _instances().replace_one(query, replacement, session=session)
    if result.matched_count != 1:
        raise InstanceChanged(instance["key"])


async def save_incident(
    incident: dict[str, Any], *, created: bool, session: AsyncClientSession
) -> None:
    if created:
        await _incidents().insert_one(incident, session=session)
        return
    query = {"_id": incident["_id"], "org_id": incident["org_id"]}
    await _incidents().replace_one(query, incident, session=session)


async def find_incident(*, scope: Scope, incident_id: ObjectId) -> dict[str, Any] | None:
    """The incident if in scope (shop-level incidents need a scope not limited to machines)."""
    query = scope.filter()
    query["_id"] = incident_id
    return await _incidents().find_one(id_first(query))


async def list_incidents(
    *,
    scope: Scope,
    states: Sequence[str] | None,
    severities: Sequence[str] | None,
    rules: Sequence[str] | None,
    opened_from: datetime | None,
    opened_to: datetime | None,
    after: tuple[datetime, ObjectId] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Incidents in scope, newest first, after the cursor `(opened_at, _id)`."""
    query = scope.filter()
    for name, values in (("state", states), ("severity", severities), ("rule", rules)):
        if values:
            query[name] = {"$in": list(values)}
    if opened := time_window(opened_from, opened_to):
        query["opened_at"] = opened
    if after is not None:
        query.update(after_key("opened_at", after))
    cursor = _incidents().find(query).sort(newest_first("opened_at")).limit(limit)
    return await cursor.to_list(length=None)


async def rule_overrides(org_id: ObjectId) -> list[AlertRuleOverride]:
    return await AlertRuleOverride.find({"org_id": org_id}).to_list()


async def set_rule_override(*, scope: Scope, rule: AlertRule, changes: dict[str, Any]) -> None:
    """Apply `changes` (None: back to the default) to the organization's override of `rule`;
    an override left with every setting at its default is removed."""
    overrides = AlertRuleOverride.get_pymongo_collection()
    key = {"org_id": scope.org_id, "rule": rule.value}
    await overrides.update_one(key, {"$set": changes, "$setOnInsert": key}, upsert=True)
    # Conditional: a concurrent change that set something keeps its document.
    await overrides.delete_one({**key, **dict.fromkeys(OVERRIDABLE_RULE_FIELDS)})


async def active_silences(org_id: ObjectId, now: datetime) -> list[Silence]:
    query = {"org_id": org_id, "starts_at": {"$lte": now}, "ends_at": {"$gt": now}}
    return await Silence.find(query).to_list()


async def list_silences(*, scope: Scope, include_ended: bool, now: datetime) -> list[Silence]:
    query: dict[str, Any] = {"org_id": scope.org_id}
    if not include_ended:
        query["ends_at"] = {"$gt": now}
    return await Silence.find(query).sort("-ends_at").to_list()


async def end_silence(*, scope: Scope, silence_id: ObjectId, now: datetime) -> Silence | None:
    doc = await Silence.get_pymongo_collection().find_one_and_update(
        {"_id": silence_id, "org_id": scope.org_id, "ends_at": {"$gt": now}},
        {"$set": {"ends_at": now, "expired_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    return Silence.model_validate(doc) if doc else None


async def silences_ended_unreleased(now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    query = {"ends_at": {"$lte": now}, "released": {"$ne": True}}
    return await Silence.get_pymongo_collection().find(query).limit(limit).to_list(length=None)


async def release_silence(silence_id: ObjectId) -> bool:
    """Mark an ended silence handled; True for the one caller that did it."""
    result = await Silence.get_pymongo_collection().update_one(
        {"_id": silence_id, "released": {"$ne": True}}, {"$set": {"released": True}}
    )
    return result.modified_count == 1


async def collections_for(
    *, org_id: ObjectId, machine_ids: Sequence[ObjectId], since: datetime
) -> list[PlannedCollection]:
    query = {"org_id": org_id, "machine_id": {"$in": list(machine_ids)}, "ends_at": {"$gt": since}}
    return await PlannedCollection.find(query).to_list()


async def due_twin_ids(*, now: datetime, limit: int) -> list[ObjectId]:
    """The machines (of every organization) whose alerts are due by `now`, the most overdue
    first, up to `limit`: what one evaluator pass claims page by page (`claim_twins`)."""
    due = (
        await _twins_collection()
        .find({"alerts_due_at": {"$lte": now}}, {"_id": 1})
        .sort([("alerts_due_at", ASCENDING)])
        .limit(limit)
        .to_list(length=None)
    )
    return [d["_id"] for d in due]


async def claim_twins(
    *, ids: Sequence[ObjectId], now: datetime, lease_until: datetime
) -> tuple[str, list[dict[str, Any]]]:
    """Claim those of the twins `ids` whose alerts are still due by `now` for this caller:
    one conditional update moves each still-due twin's `alerts_due_at` to `lease_until` and
    stamps the caller's claim token, so a twin another evaluator claimed first is not taken,
    and a crashed evaluator's claim runs out at `lease_until`. Returns the token (for
    `release_twins`) and the claimed twins."""
    twins = _twins_collection()
    token = ObjectId()
    if not ids:
        return str(token), []
    await update_each(
        twins,
        ids,
        {"alerts_due_at": {"$lte": now}},
        {"$set": {"alerts_due_at": lease_until, "alerts_claim": token}},
    )
    claimed = twins.find({"_id": {"$in": list(ids)}, "alerts_claim": token})
    return str(token), await claimed.to_list(length=None)


async def release_twins(
    *, token: str, lease_until: datetime, next_due: dict[ObjectId, datetime | None]
) -> None:
    """After an evaluation: each claimed twin's next due instant, unless a writer marked it
    due again meanwhile (then `alerts_due_at` is no longer the lease, and stays)."""
    claim = ObjectId(token)
    held = {"alerts_claim": claim, "alerts_due_at": lease_until}
    # One single-document update per twin (models/writes.py), all in one bulk write.
    writes = [
        UpdateOne(
            {"_id": machine_id, **held},
            {"$set": {"alerts_due_at": at}} if at else {"$unset": {"alerts_due_at": ""}},
        )
        for machine_id, at in next_due.items()
    ]
    if writes:
        await _twins_collection().bulk_write(writes, ordered=False)


async def mark_twins_due(
    *, org_id: ObjectId, machine_ids: Sequence[ObjectId], at: datetime
) -> None:
    await update_each(
        _twins_collection(), machine_ids, {"org_id": org_id}, {"$set": {"alerts_due_at": at}}
    )


async def twins_of_shops(*, org_id: ObjectId, shop_ids: Sequence[ObjectId]) -> list[dict]:
    query = {"org_id": org_id, "shop_id": {"$in": list(shop_ids)}}
    projection = {"connectivity": 1, "shop_id": 1, "connectivity_since": 1}
    return await _twins_collection().find(query, projection).to_list(length=None)


async def shops_with_unsettled_twins(
    *, org_id: ObjectId, shop_ids: Sequence[ObjectId]
) -> set[ObjectId]:
    """Which of `shop_ids` have a machine that is LATE or OFFLINE (through the sparse index on
    `late_or_offline_shop_id`, which holds only those twins)."""
    query = {"late_or_offline_shop_id": {"$in": list(shop_ids)}, "org_id": org_id}
    # The hint: a planner preferring the org_id prefix of another index reads the whole org.
    cursor = (
        _twins_collection()
        .find(query, {"late_or_offline_shop_id": 1, "_id": 0})
        .hint([("late_or_offline_shop_id", ASCENDING)])
    )
    return {doc["late_or_offline_shop_id"] async for doc in cursor}


def _twins_collection():
    return MachineTwin.get_pymongo_collection()


async def open_unnotified_machines(*, org_id: ObjectId) -> list[ObjectId]:
    """Machines with a firing incident whose FIRING was not notified (silenced, inhibited);
    for a shop-level incident, every machine of the shop."""
    docs = (
        await _incidents()
        .find(
            {"org_id": org_id, "state": "FIRING", "notified_firing": False},
            {"machine_id": 1, "shop_id": 1},
        )
        .to_list(length=None)
    )
    machines = {d["machine_id"] for d in docs if d["machine_id"] is not None}
    shops = [d["shop_id"] for d in docs if d["machine_id"] is None and d["shop_id"] is not None]
    if shops:
        twins = await twins_of_shops(org_id=org_id, shop_ids=shops)
        machines.update(t["_id"] for t in twins)
    return sorted(machines)


async def get_silence(*, scope: Scope, silence_id: ObjectId) -> Silence | None:
    return await Silence.find_one({"_id": silence_id, "org_id": scope.org_id})
