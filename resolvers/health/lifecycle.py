"""Twin changes that fleet operations cause: decommissioning, new thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from config import Settings
from models.health import Connectivity, MachineEventKind
from models.health_store import find_twin, list_twins
from models.machine import Machine
from models.org_store import get_organization, list_shops
from models.scope import Scope
from resolvers.health.connectivity import Thresholds, next_check_at
from resolvers.health.recording import (
    commit_twin_change,
    event_documents,
    retry_on_twin_change,
)
from resolvers.health.settings import effective_settings
from resolvers.health.twin import MachineEvent, new_twin


async def retire_twin(
    *,
    machine: Machine,
    at: datetime,
    settings: Settings,
    session: AsyncClientSession,
) -> list[dict[str, Any]]:
    """In `session`'s transaction: the machine's connectivity becomes DECOMMISSIONED for good
    (the evaluator stops looking at it); returns the recorded event for publishing."""
    scope = Scope.organization(machine.org_id)
    twin = await find_twin(scope=scope, machine_id=machine.id, session=session)
    if twin is None:
        twin = new_twin(machine, Thresholds(0, 0))
    expected_version = twin["version"]
    previous = twin["connectivity"]
    twin.update(
        connectivity=Connectivity.DECOMMISSIONED.value, connectivity_since=at, next_check_at=None
    )
    event = MachineEvent(
        MachineEventKind.CONNECTIVITY_CHANGED,
        at,
        {"previous": previous, "connectivity": Connectivity.DECOMMISSIONED.value},
    )
    docs = event_documents(
        twin, [event], recorded_at=at, retention_days=settings.telemetry_retention_days
    )
    await commit_twin_change(
        scope=scope, twin=twin, expected_version=expected_version, event_docs=docs, session=session
    )
    return docs


async def refresh_thresholds(
    *, scope: Scope, shop_ids: list[Any] | None, settings: Settings
) -> int:
    """Give the twins of `shop_ids` (None: the whole organization) the thresholds their
    settings now say, so the evaluator applies new settings at once; returns how many
    twins changed."""
    narrowed = scope.narrowed(shop_ids=shop_ids) if shop_ids is not None else scope
    org = await get_organization(scope=scope)
    shops = {s.id: s for s in await list_shops(scope=narrowed)}
    changed = 0
    for twin in await list_twins(scope=narrowed):
        thresholds = effective_settings(settings, org, shops.get(twin["shop_id"])).thresholds
        if _retimed(twin, thresholds) is None:
            continue

        async def attempt(machine_id: Any = twin["_id"], thresholds: Thresholds = thresholds):
            current = await find_twin(scope=scope, machine_id=machine_id)
            if current is None or (retimed := _retimed(current, thresholds)) is None:
                return 0
            await commit_twin_change(
                scope=scope, twin=retimed, expected_version=current["version"], event_docs=[]
            )
            return 1

        changed += await retry_on_twin_change(attempt)
    return changed


def _retimed(twin: dict[str, Any], thresholds: Thresholds) -> dict[str, Any] | None:
    """`twin` with `thresholds` and the deadline they give; None when nothing changes."""
    if (twin["late_after_seconds"], twin["offline_after_seconds"]) == (
        thresholds.late_after_seconds,
        thresholds.offline_after_seconds,
    ):
        return None
    retimed = dict(twin)
    retimed["late_after_seconds"] = thresholds.late_after_seconds
    retimed["offline_after_seconds"] = thresholds.offline_after_seconds
    retimed["next_check_at"] = next_check_at(
        Connectivity(twin["connectivity"]), twin["last_seen_at"], thresholds
    )
    return retimed
