"""The alert evaluator: every worker claims the machines whose alerts are due and evaluates
them (resolvers/alerts/engine.py); it also releases ended silences and runs the forecast
sweep. Claims, instance compare-and-sets and the sweep claim live in the database, so several
workers or hosts produce each transition once and a restart loses nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from config import Settings
from infra.signals import ALERTS_DUE
from models.alert_store import (
    claim_twins,
    due_twin_ids,
    mark_twins_due,
    open_unnotified_machines,
    release_silence,
    release_twins,
    silences_ended_unreleased,
)
from models.background import run_rounds
from models.organization import utcnow
from resolvers.alerts.engine import evaluate_org
from resolvers.alerts.forecasts import sweep_forecasts

log = logging.getLogger(__name__)

PAGE = 200
# Pages one pass claims at most; the machines beyond them stay due for the next pass.
MAX_PAGES = 50
# A claimed machine not released by then (its evaluator died) is due again.
CLAIM_LEASE = timedelta(seconds=30)
FORECAST_CHECK_SECONDS = 60.0


@dataclass
class AlertPass:
    machines: int = 0
    transitions: int = 0
    seconds: float = 0.0


async def release_ended_silences(now: datetime) -> int:
    """Machines with incidents an ended silence held back are due again (their FIRING is
    notified now); each silence is handled by one evaluator."""
    released = 0
    for silence in await silences_ended_unreleased(now):
        if not await release_silence(silence["_id"]):
            continue
        machines = await open_unnotified_machines(org_id=silence["org_id"])
        await mark_twins_due(org_id=silence["org_id"], machine_ids=machines, at=now)
        released += 1
    return released


async def evaluate_alerts(*, now: datetime, settings: Settings) -> AlertPass:
    """One pass at `now` (the injectable clock): every due machine, page by page."""
    started = time.perf_counter()
    result = AlertPass()
    await release_ended_silences(now)
    # One scan for the whole pass: the embedded database reads every due entry of the index
    # for a limited query, so a scan per page read N^2 / PAGE entries for N due machines.
    due = await due_twin_ids(now=now, limit=PAGE * MAX_PAGES)
    lease = now + CLAIM_LEASE
    for start in range(0, len(due), PAGE):
        token, twins = await claim_twins(ids=due[start : start + PAGE], now=now, lease_until=lease)
        if not twins:
            continue
        by_org: dict = defaultdict(list)
        for twin in twins:
            by_org[twin["org_id"]].append(twin)
        next_due: dict = {}
        for org_id, org_twins in by_org.items():
            try:
                evaluation = await evaluate_org(org_id, org_twins, now=now, settings=settings)
            except Exception:
                # Its claims run out after the lease: evaluated again then, not lost.
                log.exception("alerts: evaluation of org %s failed; retried later", org_id)
                continue
            result.transitions += sum(
                len(s.incident["timeline"]) - s.prior_transitions
                for s in evaluation.steps
                if s.incident is not None
            )
            next_due.update({t["_id"]: evaluation.next_due.get(t["_id"]) for t in org_twins})
        await release_twins(token=token, lease_until=lease, next_due=next_due)
        result.machines += len(twins)
    result.seconds = time.perf_counter() - started
    return result


async def run_alert_evaluator(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """Evaluate whenever a twin changed in this process, at least every
    ALERT_EVALUATOR_INTERVAL_SECONDS."""
    interval = settings.alert_evaluator_interval_seconds
    await run_rounds(
        lambda: evaluate_alerts(now=clock(), settings=settings),
        lambda _: ALERTS_DUE.wait(interval),
        log=log,
        failure="alerts: evaluator pass failed",
    )


async def run_forecast_sweeper(*, clock: Callable[[], datetime] = utcnow) -> None:
    """Sweep the forecasts of the organizations due about once a minute, beside the
    evaluator loop rather than in it: a sweep of a large organization takes seconds (a
    forecast and a write per machine), and faults must not wait behind it."""
    await run_rounds(
        lambda: sweep_forecasts(now=clock()),
        lambda _: asyncio.sleep(FORECAST_CHECK_SECONDS),
        log=log,
        failure="alerts: forecast sweep failed",
    )
