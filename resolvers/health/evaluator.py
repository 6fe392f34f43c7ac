"""The connectivity evaluator: moves silent machines to LATE and OFFLINE with no request.

Every worker process runs `run_evaluator` (graph/app.py starts it). A pass reads the twins
whose `next_check_at` has passed (one indexed query, whatever the fleet size) and records each
transition with a compare-and-set on the twin and its event in one transaction: when several
workers or hosts evaluate at once, one of them records a transition and the others find the
twin changed and move on, so each change is recorded and published exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config import Settings
from models.background import run_rounds
from models.health import Connectivity, MachineEventKind
from models.health_store import TwinChanged, twins_due_for_check
from models.organization import utcnow
from models.scope import Scope
from resolvers.health.connectivity import next_check_at, state_after_silence
from resolvers.health.recording import commit_twin_change, event_documents, publish_recorded
from resolvers.health.twin import MachineEvent, thresholds_of

log = logging.getLogger(__name__)

SILENCE_ORDER = [Connectivity.LIVE, Connectivity.LATE, Connectivity.OFFLINE]

PAGE = 500
# A pass ends after this many pages; the next pass goes on where it stopped.
MAX_PAGES = 100
# Twins handled at once in one pass: enough to overlap round trips, few enough that one
# process does not flood the database with transactions.
CONCURRENCY = 8


@dataclass
class EvaluationPass:
    examined: int = 0
    transitions: int = 0
    lost_races: int = 0
    seconds: float = 0.0


async def _evaluate_twin(twin: dict[str, Any], now: datetime, settings: Settings) -> list[dict]:
    """Record `twin`'s transition due by `now`, if any; [] when there is none or another
    writer changed the twin first."""
    thresholds = thresholds_of(twin)
    current = Connectivity(twin["connectivity"])
    state, since = state_after_silence(twin["last_seen_at"], now, thresholds)
    if SILENCE_ORDER.index(state) < SILENCE_ORDER.index(current):
        state = current  # silence only deepens; only a message brings a machine back
    expected_version = twin["version"]
    events: list[MachineEvent] = []
    if state is not current:
        twin["connectivity"] = state.value
        twin["connectivity_since"] = since
        events.append(
            MachineEvent(
                MachineEventKind.CONNECTIVITY_CHANGED,
                since,
                {"previous": current.value, "connectivity": state.value},
            )
        )
    twin["next_check_at"] = next_check_at(state, twin["last_seen_at"], thresholds)
    docs = event_documents(
        twin, events, recorded_at=now, retention_days=settings.telemetry_retention_days
    )
    await commit_twin_change(
        scope=Scope.organization(twin["org_id"]),
        twin=twin,
        expected_version=expected_version,
        event_docs=docs,
    )
    return docs


async def evaluate_connectivity(*, now: datetime, settings: Settings) -> EvaluationPass:
    """One pass at `now` (the injectable clock): every due twin, page by page."""
    started = time.perf_counter()
    result = EvaluationPass()
    limiter = asyncio.Semaphore(CONCURRENCY)

    async def one(twin: dict[str, Any]) -> None:
        async with limiter:
            try:
                docs = await _evaluate_twin(twin, now, settings)
            except TwinChanged:
                result.lost_races += 1
                return
        result.transitions += len(docs)
        await publish_recorded(docs)

    for _ in range(MAX_PAGES):
        due = await twins_due_for_check(now=now, limit=PAGE)
        result.examined += len(due)
        await asyncio.gather(*(one(twin) for twin in due))
        if len(due) < PAGE:
            break
    result.seconds = time.perf_counter() - started
    return result


async def run_evaluator(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
    """Evaluate every HEALTH_EVALUATOR_INTERVAL_SECONDS until cancelled; a failed pass is
    logged and the next one runs on time."""
    interval = settings.health_evaluator_interval_seconds

    async def one_pass() -> None:
        outcome = await evaluate_connectivity(now=clock(), settings=settings)
        if outcome.transitions:
            log.info(
                "health: %s connectivity transitions (%s twins, %.3f s)",
                outcome.transitions,
                outcome.examined,
                outcome.seconds,
            )

    await run_rounds(
        one_pass,
        lambda _: asyncio.sleep(interval),
        log=log,
        failure="health: evaluator pass failed",
    )
