"""EMPTY_SOON's input: the replenishment forecast per machine, recomputed per organization
every FORECAST_INTERVAL by one worker (claimed in the database), kept for the evaluator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from models.alert_store import mark_twins_due, rule_overrides
from models.alerts import AlertForecast, AlertRule, AlertSweep
from models.currencies import slot_key
from models.org_store import list_organizations
from models.scope import Scope
from resolvers.alerts.rules import effective_rules
from resolvers.analytics.forecast import SlotForecast, Threshold, forecast_for_scope

FORECAST_INTERVAL = timedelta(minutes=15)
# The forecast looks at most a week ahead (EMPTY_SOON's threshold may ask for less).
MAX_HORIZON_HOURS = 7 * 24


Verdicts = dict[str, tuple[float | None, float | None]]


async def forecasts_for(
    *, org_id: ObjectId, machine_ids: Sequence[ObjectId] | None = None
) -> dict[ObjectId, Verdicts]:
    """The stored verdicts of `machine_ids` (None: every machine of the organization, read
    by its org_id index: a `$in` of a whole fleet's ids costs the embedded server a list
    search per document, minutes at 10,000)."""
    query: dict[str, Any] = {"org_id": org_id}
    if machine_ids is not None:
        query = {"_id": {"$in": list(machine_ids)}, **query}
    docs = await AlertForecast.get_pymongo_collection().find(query).to_list(length=None)
    return {d["_id"]: _verdicts(d["slots"]) for d in docs}


def _verdicts(slots: dict[str, Any]) -> Verdicts:
    return {k: (v[0], v[1]) for k, v in slots.items()}


async def _claim(org_id: ObjectId, now: datetime) -> bool:
    """True for the one caller that may run the organization's sweep now."""
    sweeps = AlertSweep.get_pymongo_collection()
    try:
        claimed = await sweeps.find_one_and_update(
            {"_id": org_id, "next_at": {"$lte": now}},
            {"$set": {"next_at": now + FORECAST_INTERVAL}},
            return_document=ReturnDocument.AFTER,
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # the sweep exists and is not due: the upsert tried to insert it again
    return claimed is not None


def _soon(slots: dict[str, Any], threshold_seconds: int) -> set[tuple[str, str]]:
    """(slot, EMPTY or FULL) the forecast puts within the rule's threshold."""
    hours = threshold_seconds / 3600
    return {
        (slot, direction)
        for slot, values in slots.items()
        for direction, value in zip(("EMPTY", "FULL"), values, strict=True)
        if value is not None and value <= hours
    }


def _ahead(slot: SlotForecast, threshold: Threshold) -> float | None:
    """Hours until the slot reaches `threshold` through its learned flow; None when it is
    already there (DENOMINATION_EMPTY and COLLECTION_FULL speak then) or no flow takes it
    there within the horizon."""
    hours = slot.hours_to.get(threshold)
    if hours is None or hours <= 0 or slot.expected_net_per_hour == 0:
        return None
    return hours


async def sweep_forecasts(*, now: datetime) -> int:
    """Recompute the forecasts of every organization whose sweep is due; returns how many
    organizations this caller swept."""
    swept = 0
    for org in await list_organizations():
        swept += await sweep_organization(org.id, now=now)
    return swept


async def sweep_organization(org_id: ObjectId, *, now: datetime) -> bool:
    """Recompute the organization's forecasts if its sweep is due and this caller claimed
    it (one caller among racing workers); whether it did."""
    if not await _claim(org_id, now):
        return False
    rules = effective_rules(await rule_overrides(org_id))
    threshold = rules[AlertRule.EMPTY_SOON].threshold or 0
    horizon_hours = min(MAX_HORIZON_HOURS, max(1, math.ceil(threshold / 3600)))
    forecast = await forecast_for_scope(
        scope=Scope.organization(org_id), horizon_hours=horizon_hours, now=now
    )
    before = await forecasts_for(org_id=org_id)
    writes, changed = [], []
    for machine in forecast.machines:
        slots = {}
        for s in machine.slots:
            ahead = [_ahead(s, Threshold.EMPTY), _ahead(s, Threshold.FULL)]
            if any(h is not None for h in ahead):
                slots[slot_key(s.kind, s.denomination)] = ahead
        old = before.get(machine.machine.id)
        if old == _verdicts(slots):
            continue  # the same verdicts: not written again (10,000 writes every 15 minutes)
        writes.append(
            UpdateOne(
                {"_id": machine.machine.id},
                {"$set": {"org_id": org_id, "slots": slots, "computed_at": now}},
                upsert=True,
            )
        )
        if _soon(old or {}, threshold) != _soon(slots, threshold):
            changed.append(machine.machine.id)
    if writes:
        await AlertForecast.get_pymongo_collection().bulk_write(writes, ordered=False)
    # Only machines whose EMPTY_SOON verdict moved are due: a sweep must not make a whole
    # fleet due every 15 minutes for hours that merely got shorter.
    if changed:
        await mark_twins_due(org_id=org_id, machine_ids=changed, at=now)
    return True
