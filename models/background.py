"""Background loops over the database: one round, a pause, until the task is cancelled.

pymongo's async driver (4.20.1) sometimes completes an operation normally although its task
was cancelled during it: `task.cancel()` returns True, yet no CancelledError reaches the
caller (`python -m bench.cancellation`, embedded server: of the calls still running when
cancelled, 45 of 52 `find_one`, 61 of 156 `update_one` and 43 of 45 `hello` returned
normally). A loop that relies on the CancelledError to stop then runs on, and whoever awaits
the cancelled task (a worker's shutdown, a test's teardown, a CLI command's exit) waits for
ever. `run_rounds` therefore asks after every round whether its task was asked to stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

R = TypeVar("R")


def raise_if_cancelled() -> None:
    """Raise CancelledError when the current task was cancelled and the cancellation was
    lost on the way (see the module docstring); do nothing otherwise, or outside a task."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def run_rounds(
    one_round: Callable[[], Awaitable[R]],
    pause: Callable[[R | None], Awaitable[object]],
    *,
    log: logging.Logger,
    failure: str,
) -> NoReturn:
    """Await `one_round()`, then `pause(its result)`, until the task is cancelled. A round
    that raises is logged on `log` as `failure` (with its traceback) and paused after with
    None: the next round runs as usual."""
    while True:
        try:
            result: R | None = await one_round()
        except Exception:
            log.exception(failure)
            result = None
        raise_if_cancelled()
        await pause(result)
