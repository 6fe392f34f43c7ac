"""What to retry and when: the cloud's answer read as a payload, a `Retry` (may succeed
later) or an `AgentError` (cannot); retry timing by exponential backoff with full jitter,
never sooner than a server's retry-after."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class AgentError(RuntimeError):
    """The cloud refused the agent in a way retrying cannot fix (bad key, unknown machine,
    malformed request). Records stay in the outbox; a human must act."""


class Retry(Exception):
    """A call that may succeed later, after `retry_after` seconds at the earliest."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, timed_out: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.timed_out = timed_out  # no answer within the client's timeout


def payload_of(response: httpx.Response, field: str, *, url: str) -> dict[str, Any]:
    """The payload of mutation `field` in `response`; `Retry` for what may succeed later
    (retryable status, error or userError, a non-JSON 200), `AgentError` for what cannot."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if response.status_code in RETRYABLE_STATUS:
        raise Retry(f"HTTP {response.status_code}", retry_after)
    try:
        document = response.json()
    except ValueError as exc:
        if response.status_code == 200:
            # A captive portal or a confused proxy on the shop's link: try again later.
            raise Retry("HTTP 200 with a non-JSON body") from exc
        raise AgentError(f"HTTP {response.status_code} from {url}: not the API") from exc
    errors = document.get("errors") if isinstance(document, dict) else None
    if errors:
        first = errors[0]
        ext = first.get("extensions") or {}
        if ext.get("retryable") or ext.get("code") == "INTERNAL_SERVER_ERROR":
            raise Retry(f"{ext.get('code')}: {first.get('message')}", ext.get("retryAfter"))
        raise AgentError(f"{ext.get('code')}: {first.get('message')}")
    if response.status_code != 200 or not document.get("data"):
        raise AgentError(f"unexpected HTTP {response.status_code} from {url}")
    payload: dict[str, Any] = document["data"][field]
    for error in payload["userErrors"]:
        if error["retryable"]:
            raise Retry(f"{error['code']}: {error['message']}", retry_after)
    return payload


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
