"""Retry policy of the reference client: backoff with jitter, retry-after, retryable
userErrors, missingSeqs. The cloud is scripted here (httpx.MockTransport) because these
answers (503, timeouts, IN_PROGRESS) are hard to provoke on demand from the real server."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import AgentClient, AgentError, RetryPolicy
from agent.retry import parse_retry_after

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def ok(body: dict[str, Any], **overrides: Any) -> httpx.Response:
    n = len(body["variables"]["input"]["transactions"])
    payload = {
        "accepted": n,
        "duplicates": 0,
        "replayed": False,
        "rejected": [],
        "missingSeqs": [],
        "userErrors": [],
        **overrides,
    }
    return httpx.Response(200, json={"data": {"ingestTransactions": payload}})


class Script:
    """Answers requests with the given handlers in turn; records bodies."""

    def __init__(self, *handlers: Callable[[dict[str, Any]], httpx.Response]) -> None:
        self.handlers = list(handlers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        return self.handlers.pop(0)(body)

    @property
    def keys(self) -> list[str]:
        return [b["variables"]["input"]["idempotencyKey"] for b in self.bodies]


def make_agent(tmp_path: Path, script: Script, sleeps: list[float], **kw: Any) -> AgentClient:
    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    agent = AgentClient(
        "http://cloud/graphql",
        "key",
        "m1",
        tmp_path / "outbox.sqlite",
        transport=httpx.MockTransport(script),
        sleep=record_sleep,
        policy=RetryPolicy(base=0.2, factor=2, max_delay=1.0, rng=random.Random(7)),
        **kw,
    )
    agent.journal(
        type="DEPOSIT", occurred_at=NOW, currency="EUR", lines=[{"denomination": 500, "count": 1}]
    )
    return agent


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, factor=2, max_delay=4.0, rng=random.Random(1))
    assert [policy.ceiling(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.ceiling(10_000) == 4.0
    delays = [policy.delay(3) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 150, "jitter spreads retries out"


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base=0.1, max_delay=1.0, rng=random.Random(1))
    assert policy.delay(1, retry_after=5.0) == 5.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None


async def test_network_failures_are_retried_with_backoff_under_the_same_key(
    tmp_path: Path,
) -> None:
    def drop(_: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def timeout(_: dict[str, Any]) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    script = Script(drop, timeout, lambda b: httpx.Response(502, text="bad gateway"), ok)
    sleeps: list[float] = []
    agent = make_agent(tmp_path, script, sleeps)
    report = await agent.flush()
    await agent.aclose()

    assert (report.retries, report.accepted) == (3, 1)
    assert len(set(script.keys)) == 1, "every attempt reuses the batch's idempotency key"
    assert [s <= c for s, c in zip(sleeps, [0.2, 0.4, 0.8], strict=True)] == [True] * 3


async def test_retry_after_header_and_retryable_user_errors_are_honoured(
    tmp_path: Path,
) -> None:
    def busy(_: dict[str, Any]) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "7"}, text="busy")

    def in_progress(body: dict[str, Any]) -> httpx.Response:
        error = {"field": "input.idempotencyKey", "code": "IN_PROGRESS", "message": "wait"}
        return ok(body, accepted=0, userErrors=[{**error, "retryable": True}])

    script = Script(busy, in_progress, ok)
    sleeps: list[float] = []
    agent = make_agent(tmp_path, script, sleeps)
    report = await agent.flush()
    status = agent.status()
    await agent.aclose()

    assert sleeps[0] >= 7.0
    assert (report.retries, report.accepted) == (2, 1)
    assert (status.acked, status.pending) == (1, 0)


async def test_permanent_refusal_raises_and_keeps_the_records(tmp_path: Path) -> None:
    def not_covered(body: dict[str, Any]) -> httpx.Response:
        error = {"field": "input.machineId", "code": "MACHINE_NOT_COVERED", "message": "no"}
        return ok(body, accepted=0, userErrors=[{**error, "retryable": False}])

    agent = make_agent(tmp_path, Script(not_covered), [])
    with pytest.raises(AgentError, match="MACHINE_NOT_COVERED"):
        await agent.flush()
    status = agent.status()
    await agent.aclose()
    assert (status.pending, status.in_batches, status.acked) == (1, 1, 0)


async def test_a_wrong_url_is_reported_not_retried_forever(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Script(lambda b: httpx.Response(404, text="Not Found")), [])
    with pytest.raises(AgentError, match="HTTP 404"):
        await agent.flush()
    assert agent.status().pending == 1
    await agent.aclose()


async def test_gives_up_after_max_attempts_when_asked(tmp_path: Path) -> None:
    script = Script(*[lambda b: httpx.Response(500, text="boom")] * 3)
    agent = make_agent(tmp_path, script, [])
    with pytest.raises(TimeoutError, match="after 3 attempts"):
        await agent.flush(max_attempts=3)
    assert agent.status().pending == 1
    await agent.aclose()


async def test_acked_records_the_cloud_reports_missing_are_sent_again(tmp_path: Path) -> None:
    script = Script(ok, lambda b: ok(b, missingSeqs=[{"from": 1, "to": 1}]), ok)
    agent = make_agent(tmp_path, script, [])
    await agent.flush()  # seq 1 acked
    agent.journal(
        type="DEPOSIT", occurred_at=NOW, currency="EUR", lines=[{"denomination": 500, "count": 2}]
    )
    report = await agent.flush()  # seq 2; the cloud says it lacks seq 1 (restored backup)
    await agent.aclose()

    assert report.requeued == 1
    sent = [[t["seq"] for t in b["variables"]["input"]["transactions"]] for b in script.bodies]
    assert sent == [[1], [2], [1]]


def test_malformed_records_are_refused_before_they_enter_the_outbox(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Script(), [])
    with pytest.raises(ValueError, match="type must be one of"):
        agent.journal(type="GIFT", occurred_at=NOW, currency="EUR", lines=[])
    with pytest.raises(ValueError, match="timezone-aware"):
        agent.journal(
            type="DEPOSIT",
            occurred_at=datetime(2026, 1, 1),
            currency="EUR",
            lines=[{"denomination": 500, "count": 1}],
        )
    assert agent.status().next_seq == 2
    agent.outbox.close()
