"""`report_machine_telemetry`: a local system's telemetry messages, logged and folded onto
the machine's twin in one transaction.

Data flow: check the request (size, machine, key coverage, not decommissioned) -> validate
each message (resolvers/health/messages.py) -> in ONE transaction: read the twin, drop the
eventIds the log already holds (searched only when a seq is not beyond the highest one
logged), fold the new messages onto the twin (seq rules in
resolvers/health/twin.py), insert them into the log (stale ones marked unapplied), record the
events, compare-and-set the twin -> publish the events after the commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from auth.principal import Principal
from config import Settings
from models.currencies import get_currency
from models.db import get_database
from models.health_store import find_twin, insert_telemetry, known_event_ids
from models.machine import Machine
from models.org_store import get_organization, get_shop
from models.organization import utcnow
from models.scope import Scope
from resolvers.errors import ServiceError
from resolvers.fleet.errors import FleetErrorCode
from resolvers.fleet.machines import machine_for_key
from resolvers.health.connectivity import Thresholds
from resolvers.health.errors import HealthErrorCode
from resolvers.health.messages import (
    MAX_MESSAGES_PER_REQUEST,
    MessageRejection,
    TelemetryMessage,
    ValidMessage,
    validate_messages,
)
from resolvers.health.recording import (
    commit_twin_change,
    event_documents,
    publish_recorded,
    retry_on_twin_change,
)
from resolvers.health.settings import effective_settings
from resolvers.health.twin import alerts_may_change, fold_messages, new_twin, thresholds_of


@dataclass
class TelemetryResult:
    """`stale`: logged, but older than what the twin held, so not applied."""

    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    rejected: list[MessageRejection] = field(default_factory=list)


@dataclass
class _Applied:
    """What one committed attempt did."""

    accepted: int
    duplicates: int
    stale: int
    event_docs: list[dict[str, Any]]
    alerts_due: bool


async def machine_thresholds(settings: Settings, machine: Machine) -> Thresholds:
    """The machine's connectivity thresholds from its shop's and organization's settings."""
    scope = Scope.organization(machine.org_id)
    org, shop = await asyncio.gather(
        get_organization(scope=scope), get_shop(scope=scope, shop_id=machine.shop_id)
    )
    return effective_settings(settings, org, shop).thresholds


async def current_twin(
    *, machine: Machine, settings: Settings, session: AsyncClientSession | None = None
) -> dict[str, Any]:
    """The machine's twin, or the twin of a machine never heard from (its thresholds from
    its shop's and organization's settings)."""
    scope = Scope.organization(machine.org_id)
    twin = await find_twin(scope=scope, machine_id=machine.id, session=session)
    return twin or new_twin(machine, await machine_thresholds(settings, machine))


def _log_documents(
    machine: Machine,
    messages: list[ValidMessage],
    applied: set[int],
    *,
    received_at: datetime,
    retention_days: int,
) -> list[dict[str, Any]]:
    expires_at = received_at + timedelta(days=retention_days)
    return [
        {
            "org_id": machine.org_id,
            "shop_id": machine.shop_id,
            "machine_id": machine.id,
            "event_id": msg.event_id,
            "seq": msg.seq,
            "kind": msg.kind.value,
            "observed_at": msg.observed_at,
            "received_at": received_at,
            "expires_at": expires_at,
            "applied": msg.index in applied,
            "body": msg.body,
        }
        for msg in messages
    ]


async def report_machine_telemetry(
    *,
    principal: Principal,
    machine_id: str,
    messages: list[TelemetryMessage],
    settings: Settings,
    now: datetime | None = None,
) -> TelemetryResult:
    """Log and apply a machine's telemetry messages exactly once (a repeated eventId is a
    duplicate). Bad messages are rejected one by one; the good ones are kept. Raises
    ServiceError when nothing can be taken (too many messages, unknown or uncovered machine,
    decommissioned machine)."""
    if len(messages) > MAX_MESSAGES_PER_REQUEST:
        raise ServiceError.of(
            HealthErrorCode.TOO_MANY_MESSAGES,
            f"at most {MAX_MESSAGES_PER_REQUEST} messages per call, got {len(messages)}",
            field="input.messages",
        )
    machine = await machine_for_key(principal=principal, machine_id=machine_id)
    if machine.decommissioned_at is not None:
        raise ServiceError.of(
            FleetErrorCode.MACHINE_DECOMMISSIONED,
            "the machine is decommissioned; its telemetry is no longer taken",
            field="input.machineId",
        )
    received_at = now or utcnow()
    currency = get_currency(machine.currency)
    assert currency is not None  # registration checks it
    outcome = validate_messages(
        messages,
        currency=currency,
        now=received_at,
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
    )
    result = TelemetryResult(
        duplicates=outcome.duplicates_in_request, rejected=list(outcome.rejected)
    )
    if not outcome.valid:
        return result
    scope = Scope.organization(machine.org_id)
    # Whether the log must be searched for repeated eventIds even when every seq is beyond
    # the highest one logged: after an attempt hit one anyway (an eventId sent again under a
    # new seq, or a concurrent request with the same messages).
    search_log = False

    async def attempt() -> _Applied:
        nonlocal search_log
        try:
            return await get_database().in_transaction(
                lambda session: _apply(session, scope, machine, outcome.valid)
            )
        except DuplicateKeyError:
            search_log = True
            raise

    async def _apply(
        session: AsyncClientSession, scope: Scope, machine: Machine, valid: list[ValidMessage]
    ) -> _Applied:
        twin = await current_twin(machine=machine, settings=settings, session=session)
        thresholds = thresholds_of(twin)
        expected_version = twin["version"]
        logged_seq = twin.get("logged_seq")
        if search_log or logged_seq is None or min(m.seq for m in valid) <= logged_seq:
            known = await known_event_ids(
                scope=scope,
                machine_id=machine.id,
                event_ids=[m.event_id for m in valid],
                session=session,
            )
        else:  # all beyond the highest seq logged: none can be a repeat
            known = set()
        fresh = [m for m in valid if m.event_id not in known]
        change = fold_messages(twin, fresh, received_at=received_at, thresholds=thresholds)
        await insert_telemetry(
            _log_documents(
                machine,
                fresh,
                change.applied,
                received_at=received_at,
                retention_days=settings.telemetry_retention_days,
            ),
            session=session,
        )
        docs = event_documents(
            change.twin,
            change.events,
            recorded_at=received_at,
            retention_days=settings.telemetry_retention_days,
        )
        alerts_due = False
        if fresh:
            change.twin["logged_seq"] = max([m.seq for m in fresh] + [logged_seq or 0])
            alerts_due = alerts_may_change(twin, change.twin, utcnow())
            await commit_twin_change(
                scope=scope,
                twin=change.twin,
                expected_version=expected_version,
                event_docs=docs,
                session=session,
                alerts_due=alerts_due,
            )
        stale = len(fresh) - len(change.applied)
        return _Applied(len(change.applied), len(valid) - len(fresh), stale, docs, alerts_due)

    applied = await retry_on_twin_change(attempt)
    result.accepted = applied.accepted
    result.duplicates += applied.duplicates
    result.stale = applied.stale
    await publish_recorded(applied.event_docs, alerts_due=applied.alerts_due)
    return result
