"""A committed transaction batch tells the twin the machine's local system is reachable."""

from __future__ import annotations

import logging
from datetime import datetime

from config import Settings
from models.machine import Machine
from models.scope import Scope
from resolvers.health.recording import (
    commit_twin_change,
    event_documents,
    publish_recorded,
    retry_on_twin_change,
)
from resolvers.health.telemetry import current_twin
from resolvers.health.twin import seen, thresholds_of

log = logging.getLogger(__name__)


async def record_batch_seen(*, machine: Machine, received_at: datetime, settings: Settings) -> None:
    """Move the twin's `last_seen_at`/`last_batch_at` to `received_at` (LIVE again if it was
    not). Called after an ingest commit; a failure is logged, never returned, because the
    batch is already durable (the next message or batch brings the twin up to date)."""
    scope = Scope.organization(machine.org_id)

    async def attempt() -> list[dict]:
        twin = await current_twin(machine=machine, settings=settings)
        thresholds = thresholds_of(twin)
        if twin["last_batch_at"] is not None and twin["last_batch_at"] >= received_at:
            return []
        expected_version = twin["version"]
        twin["last_batch_at"] = received_at
        change = seen(twin, received_at, thresholds)
        docs = event_documents(
            twin,
            [change] if change else [],
            recorded_at=received_at,
            retention_days=settings.telemetry_retention_days,
        )
        await commit_twin_change(
            scope=scope, twin=twin, expected_version=expected_version, event_docs=docs
        )
        return docs

    try:
        docs = await retry_on_twin_change(attempt)
    except Exception:
        log.exception("health: could not record a batch of machine %s as seen", machine.id)
        return
    await publish_recorded(docs)
