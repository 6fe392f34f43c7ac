"""The delivery outbox: rows written with the change they report, sent later by any worker.

`enqueue_deliveries` is what the alerts engine calls inside the transaction that records an
incident transition, so the transition and its deliveries commit together or not at all. Each
row holds the exact body every attempt sends (the same delivery id, the same bytes): the
canonical JSON of the audit chain (sorted keys, no whitespace, UTF-8, datetimes as ISO-8601
UTC with milliseconds, ObjectIds as hex):

    {"createdAt":"2026-12-01T09:00:00.000Z","id":"<delivery id>",
     "incident":{...the incident snapshot the caller passed...},"type":"FIRING"}
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from models.scope import Scope
from models.webhook_store import subscribed_webhooks, upsert_deliveries
from models.webhooks import DeliveryStatus, WebhookEvent
from resolvers.audit.canonical import canonical_json

RETENTION = timedelta(days=30)


def delivery_body(
    *, delivery_id: ObjectId, event: WebhookEvent, created_at: datetime, incident: dict[str, Any]
) -> str:
    """The JSON text of a delivery. Datetimes in `incident` become ISO-8601 UTC strings and
    ObjectIds their hex form; anything else must already be JSON."""
    document = {
        "id": str(delivery_id),
        "type": event.value,
        "createdAt": created_at,
        "incident": incident,
    }
    return canonical_json(document).decode()


def delivery_row(
    *,
    org_id: ObjectId,
    webhook_id: ObjectId,
    shop_id: ObjectId | None,
    event: WebhookEvent,
    incident_id: ObjectId,
    transition: int,
    incident: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A new outbox row, due at once."""
    now = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
    delivery_id = ObjectId()
    return {
        "_id": delivery_id,
        "org_id": org_id,
        "webhook_id": webhook_id,
        "shop_id": shop_id,
        "incident_id": incident_id,
        "transition": transition,
        "event": event.value,
        "body": delivery_body(
            delivery_id=delivery_id, event=event, created_at=now, incident=incident
        ),
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "expires_at": now + RETENTION,
        "lease_token": None,
        "lease_owner": None,
        "last_attempt_at": None,
        "last_response_status": None,
        "last_error": None,
        "delivered_at": None,
    }


async def enqueue_deliveries(
    *,
    session: AsyncClientSession,
    org_id: ObjectId,
    shop_id: ObjectId | None,
    event: WebhookEvent,
    incident_id: ObjectId,
    transition: int,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Enqueue the deliveries of one incident transition; the number of rows enqueued.

    The contract with the alerts engine, which calls this inside the MongoDB transaction that
    records the transition (so both commit, or neither):

    - `session`: that transaction's session; every read and write here runs in it.
    - `org_id`, `shop_id`: the incident's organization and shop (None for an
      organization-level incident, such as a disabled webhook).
    - `event`: the transition's WebhookEvent (FIRING, ACKNOWLEDGED, RESOLVED or FLAPPING;
      TEST is refused: `testWebhook` sends it).
    - `incident_id`, `transition`: the incident and the number of the transition in its
      timeline (1, 2, 3 ...): the outbox key.
    - `payload`: the incident snapshot, JSON-ready (datetimes and ObjectIds are converted),
      sent as the body's `incident`.
    - `now`: the transition's time: `createdAt` of the body, first attempt due at once.

    One row per enabled webhook of the organization subscribed to `event` that covers
    `shop_id`: a webhook without shops covers every shop; a webhook listing shops covers
    those, and never an organization-level incident (a filter promises "these shops only").
    Rows are unique per (organization, webhook, incident, transition): a transition enqueued
    again (a retried transaction, a second evaluator) enqueues nothing and returns 0.
    """
    if event is WebhookEvent.TEST:
        raise ValueError("TEST deliveries are sent by testWebhook, to one webhook")
    hooks = await subscribed_webhooks(
        scope=Scope.organization(org_id), event=event, shop_id=shop_id, session=session
    )
    rows = [
        delivery_row(
            org_id=org_id,
            webhook_id=hook["_id"],
            shop_id=shop_id,
            event=event,
            incident_id=incident_id,
            transition=transition,
            incident=payload,
            now=now,
        )
        for hook in hooks
    ]
    return await upsert_deliveries(rows, session=session)
