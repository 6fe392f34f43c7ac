"""Background loops stop when their task is cancelled, even when the database driver loses the
cancellation: pymongo 4.20.1 sometimes completes an operation normally although its task was
cancelled during it (models/background.py). A loop that went on would hang a worker's
shutdown, a CLI command's exit and the test session's teardown (it did, once, on a fresh
clone: the session's heartbeat loop waited for ever after its stop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from config import Settings
from models.background import raise_if_cancelled
from models.db import Database
from models.inflight import InflightSessions
from resolvers.alerts import evaluator as alerts_evaluator
from resolvers.audit.scheduler import CheckpointScheduler
from resolvers.health import evaluator as health_evaluator
from resolvers.webhooks import worker as webhook_worker

# Without the check, the heartbeat loop hung within the first 12 of these rounds in each of
# four runs of the same probe; with it, 200 of 200 rounds stopped.
HEARTBEAT_ROUNDS = 50
STOP_BOUND_SECONDS = 10


async def test_a_loop_whose_cancellation_was_swallowed_stops_at_its_next_check() -> None:
    waiting = asyncio.Event()

    swallowed = []

    async def loop_with_a_swallowing_call() -> None:
        while True:
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if swallowed:  # only the first: a failing run must not hang the event loop
                    raise
                swallowed.append(True)  # what the driver does when it completes regardless
            raise_if_cancelled()

    task = asyncio.create_task(loop_with_a_swallowing_call())
    await waiting.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_BOUND_SECONDS)
    assert done, "the loop ran on after its task was cancelled"
    assert task.cancelled()


async def test_a_task_nobody_cancelled_runs_on_past_the_check() -> None:
    raise_if_cancelled()
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_the_session_heartbeat_stops_every_time_it_is_cancelled_mid_operation(
    database: Database,
) -> None:
    """The real loop against the real database, stopped at varying moments of its beats and
    reaps (every call of it is a driver operation while it beats every millisecond)."""
    for round_ in range(HEARTBEAT_ROUNDS):
        inflight = InflightSessions(database.db, heartbeat_seconds=0.001)
        await inflight.mark_active()
        inflight.start()
        for _ in range(round_ % 7):  # let it reach a different point of its round each time
            await asyncio.sleep(0)
        assert inflight._task is not None
        await cancel_and_wait(inflight._task, f"heartbeat loop (round {round_})")
        await inflight.stop()  # removes its record; the loop has ended


async def cancel_and_wait(task: asyncio.Task, what: str) -> None:
    """Cancel `task` once and fail unless it ends within STOP_BOUND_SECONDS. A task that ran on
    is cancelled a second time (its loop is then at a plain wait, where that one lands), so
    the failure does not also hang the test's event loop."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_BOUND_SECONDS)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_BOUND_SECONDS)
        pytest.fail(f"the {what} ran on after its task was cancelled")
    assert task.cancelled()


def swallowing_pass(started: asyncio.Event) -> Callable[..., Awaitable[Any]]:
    """A pass that is cancelled while it waits and, as the driver can in that race, does not
    let the first CancelledError out (here: it fails with a driver error instead)."""
    swallowed = []

    async def one_pass(*args: Any, **kwargs: Any) -> Any:
        started.set()
        if swallowed:
            await asyncio.Event().wait()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        swallowed.append(True)
        raise PyMongoError("operation cancelled")

    return one_pass


@pytest.mark.parametrize(
    "loop",
    [
        "health evaluator",
        "alert evaluator",
        "forecast sweeper",
        "webhook deliveries",
        "audit scheduler",
    ],
)
async def test_each_background_loop_of_a_worker_stops_when_its_pass_swallows_the_cancel(
    loop: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()
    one_pass = swallowing_pass(started)
    if loop == "health evaluator":
        monkeypatch.setattr(health_evaluator, "evaluate_connectivity", one_pass)
        running = health_evaluator.run_evaluator(settings)
    elif loop == "alert evaluator":
        monkeypatch.setattr(alerts_evaluator, "evaluate_alerts", one_pass)
        running = alerts_evaluator.run_alert_evaluator(settings)
    elif loop == "forecast sweeper":
        monkeypatch.setattr(alerts_evaluator, "sweep_forecasts", one_pass)
        running = alerts_evaluator.run_forecast_sweeper()
    elif loop == "webhook deliveries":
        monkeypatch.setattr(webhook_worker, "deliver_due", one_pass)
        running = webhook_worker.run_delivery_worker(settings)
    else:
        scheduler = CheckpointScheduler(settings)
        monkeypatch.setattr(scheduler, "tick", one_pass)
        running = scheduler.run_forever()
    task = asyncio.create_task(running)
    async with asyncio.timeout(STOP_BOUND_SECONDS):
        await started.wait()
    await cancel_and_wait(task, loop)
