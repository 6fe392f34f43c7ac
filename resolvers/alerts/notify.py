"""Committing a key's step (instance compare-and-set, incident, enqueued notifications) in one
transaction, and publishing its new transitions to `alertsChanged` after the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from infra.live.envelope import EventType, new_envelope
from infra.signals import DELIVERIES_DUE
from models.alert_store import save_incident, save_instance
from models.db import get_database
from models.webhooks import WebhookEvent
from resolvers.alerts.lifecycle import Step
from resolvers.live.publish import jsonable, publish_envelopes
from resolvers.webhooks.outbox import enqueue_deliveries


def incident_payload(incident: dict[str, Any]) -> dict[str, Any]:
    """The incident as webhooks and the live view carry it (JSON-ready, camelCase-free:
    the same names the GraphQL Incident type reads)."""
    return jsonable(
        {
            "id": str(incident["_id"]),
            "key": incident["key"],
            "rule": incident["rule"],
            "subject": incident["subject"],
            "state": incident["state"],
            "severity": incident["severity"],
            "summary": incident["summary"],
            "organization_id": str(incident["org_id"]),
            "shop_id": str(incident["shop_id"]) if incident["shop_id"] else None,
            "machine_id": str(incident["machine_id"]) if incident["machine_id"] else None,
            "opened_at": incident["opened_at"],
            "fired_at": incident["fired_at"],
            "acknowledged_at": incident["acknowledged_at"],
            "resolved_at": incident["resolved_at"],
            "occurrences": incident["occurrences"],
            "flapping": incident["flapping"],
            "detail": incident["detail"],
            "transition": incident["timeline"][-1] if incident["timeline"] else None,
        }
    )


async def enqueue_notifications(
    session: AsyncClientSession, incident: dict[str, Any], notifications: list, now: datetime
) -> None:
    for event, number in notifications:
        entry = next(e for e in incident["timeline"] if e["n"] == number)
        payload = incident_payload({**incident, "timeline": [entry]})
        await enqueue_deliveries(
            session=session,
            org_id=incident["org_id"],
            shop_id=incident["shop_id"],
            event=WebhookEvent(event),
            incident_id=incident["_id"],
            transition=number,
            payload=payload,
            now=now,
        )


async def commit_step(step: Step, *, expected_version: int, now: datetime) -> None:
    """Raises InstanceChanged when another evaluator saved the key first (nothing written)."""

    async def write(session: AsyncClientSession) -> None:
        await save_instance(step.instance, expected_version=expected_version, session=session)
        if step.incident is not None:
            await save_incident(step.incident, created=step.created_incident, session=session)
            await enqueue_notifications(session, step.incident, step.notifications, now)

    await get_database().in_transaction(write)
    if step.notifications:
        DELIVERIES_DUE.set()


async def publish_steps(steps: list[Step]) -> None:
    """One ALERT_CHANGED envelope per new timeline entry of the committed steps."""
    envelopes = []
    for step in steps:
        incident = step.incident
        if incident is None:
            continue
        for entry in incident["timeline"]:
            if entry["n"] <= step.prior_transitions:
                continue
            envelopes.append(
                new_envelope(
                    EventType.ALERT_CHANGED,
                    organization_id=str(incident["org_id"]),
                    shop_id=str(incident["shop_id"]) if incident["shop_id"] else None,
                    machine_id=str(incident["machine_id"]) if incident["machine_id"] else None,
                    sequence=entry["n"],
                    payload=incident_payload({**incident, "timeline": [entry]}),
                )
            )
    await publish_envelopes(envelopes)
