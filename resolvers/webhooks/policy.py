"""When a failed delivery is tried again, when it is given up, when a webhook is disabled.

Pure functions of the attempt count, the instants involved and a random source, so the
schedule is tested with an injected clock (tests/test_webhook_delivery.py):

- the n-th failed attempt is retried after 30 s x 2^(n-1), at most 1 h, each delay drawn
  uniformly within +-20 % (jitter: receivers recovering from an outage are not hit by every
  sender at the same instant);
- a delivery first tried 24 h ago or more is given up (FAILED) at its next failure;
- a webhook whose failures started 24 h ago or more, with no success since, is disabled.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=1)
JITTER = 0.2
GIVE_UP_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=24)
_MAX_DOUBLINGS = 20


def nominal_delay(failed_attempts: int) -> timedelta:
    doublings = min(max(failed_attempts, 1) - 1, _MAX_DOUBLINGS)
    return min(FIRST_RETRY * 2**doublings, MAX_RETRY_DELAY)


def retry_delay(failed_attempts: int, *, rng: random.Random) -> timedelta:
    """The wait after the `failed_attempts`-th failure, jittered."""
    return nominal_delay(failed_attempts) * rng.uniform(1 - JITTER, 1 + JITTER)


def next_attempt(
    *, failed_attempts: int, created_at: datetime, now: datetime, rng: random.Random
) -> datetime | None:
    """When to try again after a failure at `now`; None: give the delivery up."""
    if now - created_at >= GIVE_UP_AFTER:
        return None
    return now + retry_delay(failed_attempts, rng=rng)


def disable_due(failing_since: datetime | None, now: datetime) -> bool:
    return failing_since is not None and now - failing_since >= DISABLE_AFTER


def succeeded(status: int | None) -> bool:
    return status is not None and 200 <= status < 300
