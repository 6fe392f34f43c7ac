"""Saving a twin change with the events it caused: one compare-and-set, one commit.

Every writer of a twin (telemetry ingest, a transaction batch seen, the connectivity
evaluator, decommissioning) goes through `commit_twin_change`, so an event is recorded if and
only if the twin change that caused it is, and exactly once: the event numbers come from the
twin's counter, which moves with the compare-and-set, and are unique per machine.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from infra.signals import ALERTS_DUE
from models.db import get_database
from models.health_store import TwinChanged, insert_machine_events, save_twin
from models.organization import utcnow
from models.scope import Scope
from resolvers.health.twin import MachineEvent, mark_alerts_due, number_events
from resolvers.live.publish import publish_machine_events

MAX_ATTEMPTS = 20
T = TypeVar("T")


def event_documents(
    twin: dict[str, Any],
    events: list[MachineEvent],
    *,
    recorded_at: datetime,
    retention_days: int,
) -> list[dict[str, Any]]:
    """Documents of `events`, numbered from the twin's counter (which they advance)."""
    numbers = number_events(twin, events)
    expires_at = recorded_at + timedelta(days=retention_days)
    return [
        {
            "org_id": twin["org_id"],
            "shop_id": twin["shop_id"],
            "machine_id": twin["_id"],
            "number": number,
            "kind": event.kind.value,
            "at": event.at,
            "recorded_at": recorded_at,
            "expires_at": expires_at,
            "detail": event.detail,
        }
        for number, event in zip(numbers, events, strict=True)
    ]


async def commit_twin_change(
    *,
    scope: Scope,
    twin: dict[str, Any],
    expected_version: int,
    event_docs: list[dict[str, Any]],
    session: AsyncClientSession | None = None,
    alerts_due: bool = True,
) -> None:
    """Save `twin` if it still has `expected_version`, with `event_docs`, atomically (in
    `session`'s transaction, or a transaction of its own when there are events); raises
    TwinChanged when another writer got there first. `alerts_due`: the change may change
    which alert conditions hold, so the alert evaluator looks at the twin now."""
    if alerts_due:
        mark_alerts_due(twin, utcnow())

    async def write(s: AsyncClientSession | None) -> None:
        await save_twin(scope=scope, twin=twin, expected_version=expected_version, session=s)
        await insert_machine_events(event_docs, session=s)

    if session is not None or not event_docs:
        await write(session)
        return
    await get_database().in_transaction(write)


async def retry_on_twin_change(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` (which re-reads the twin) until it is not beaten by another writer."""
    for n in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt()
        except (TwinChanged, DuplicateKeyError):
            if n == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * n))  # noqa: S311
    raise AssertionError("unreachable")


async def publish_recorded(event_docs: list[dict[str, Any]], *, alerts_due: bool = True) -> None:
    """After a twin change committed: wake this process's alert evaluator when the twin was
    made due, and publish the change's events (best effort, like every live event)."""
    if alerts_due:
        ALERTS_DUE.set()
    if event_docs:
        await publish_machine_events(event_docs)
