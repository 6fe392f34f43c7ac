"""Retry timing: exponential backoff with full jitter, never sooner than a server's
retry-after."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Delay before retry number `attempt` (1-based).

    The ceiling grows as `base * factor ** (attempt - 1)` up to `max_delay`; the delay is drawn
    uniformly from [0, ceiling] ("full jitter") so a fleet that lost the network together does
    not come back in lock-step. A server-given `retry_after` is a floor: we never retry sooner.
    """

    base: float = 0.2
    factor: float = 2.0
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered delay for `attempt` (1-based)."""
        exponent = max(attempt, 1) - 1
        # Cap the exponent so huge attempt numbers cannot overflow a float.
        return min(self.max_delay, self.base * self.factor ** min(exponent, 64))

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt`."""
        jittered = self.rng.uniform(0.0, self.ceiling(attempt))
        if retry_after is not None and retry_after > jittered:
            return retry_after
        return jittered


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP `Retry-After` header given in seconds (HTTP dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
