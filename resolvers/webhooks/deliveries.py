"""A webhook's deliveries (newest first, Relay pages), and `testWebhook`.

A test goes through the same outbox as incident transitions: one TEST row for the named
webhook, which the request then tries to send itself (claiming it like any worker would).
The answer is the row as it stands: DELIVERED, or PENDING with the attempt's error and the
next attempt when it failed, or when a worker's pass claimed it first (it is then being sent).
A successful test of a disabled webhook enables it again: the receiver works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from auth.principal import Principal
from config import Settings
from models.organization import utcnow
from models.webhook_store import claim_delivery, get_delivery, list_deliveries, upsert_deliveries
from models.webhooks import DeliveryStatus, WebhookEvent
from resolvers.identity.security_log import SecurityAction, record_admin_action
from resolvers.pagination import Page, check_page_size, decode_cursor, encode_cursor
from resolvers.webhooks.delivery import (
    DEFAULT_TRANSPORT,
    LEASE_OWNER,
    Transport,
    attempt_delivery,
    new_lease,
)
from resolvers.webhooks.outbox import delivery_row
from resolvers.webhooks.webhooks import find_webhook

TEST_MESSAGE = "Test delivery from Cash Command Center: your endpoint received and verified it."


class WebhookDeliveryStatus(StrEnum):
    """A delivery as its readers see it: the stored status, and SENDING while a worker
    holds a live lease on a PENDING one."""

    PENDING = "PENDING"
    SENDING = "SENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


def delivery_status(doc: dict[str, Any], *, now: datetime) -> WebhookDeliveryStatus:
    leased = doc.get("lease_token") is not None and doc["next_attempt_at"] > now
    if doc["status"] == DeliveryStatus.PENDING.value and leased:
        return WebhookDeliveryStatus.SENDING
    return WebhookDeliveryStatus(doc["status"])


def next_attempt_due(doc: dict[str, Any], *, now: datetime) -> datetime | None:
    """When a waiting delivery is tried next; None once it is final or being sent."""
    waiting = delivery_status(doc, now=now) is WebhookDeliveryStatus.PENDING
    return doc["next_attempt_at"] if waiting else None


def _cursor_of(doc: dict[str, Any]) -> str:
    at: datetime = doc["created_at"]
    return encode_cursor([int(at.timestamp() * 1000), str(doc["_id"])])


def _parse_key(key: list[Any]) -> tuple[datetime, ObjectId]:
    millis, oid = key
    if not isinstance(millis, int) or isinstance(millis, bool) or not 0 <= millis < 2**46:
        raise ValueError("time")
    if not isinstance(oid, str):
        raise TypeError("id")
    try:
        return datetime.fromtimestamp(millis / 1000, UTC), ObjectId(oid)
    except InvalidId as exc:
        raise ValueError("id") from exc


async def delivery_page(
    *, principal: Principal, webhook_id: str, first: int, after: str | None
) -> Page:
    """The webhook's deliveries, newest first, after a previous page's cursor."""
    check_page_size(first)
    before = decode_cursor(after, _parse_key) if after is not None else None
    webhook = await find_webhook(principal, webhook_id, field="webhookId")
    assert webhook.id is not None
    docs = await list_deliveries(
        scope=principal.scope, webhook_id=webhook.id, before=before, limit=first + 1
    )
    return Page.of(docs, first=first, cursor_of=_cursor_of)


async def send_test_delivery(
    *,
    principal: Principal,
    webhook_id: str,
    settings: Settings,
    transport: Transport = DEFAULT_TRANSPORT,
) -> dict[str, Any]:
    """Queue a TEST delivery for the webhook, try to send it now, return the delivery."""
    webhook = await find_webhook(principal, webhook_id)
    assert webhook.id is not None
    now = utcnow()
    row = delivery_row(
        org_id=principal.org_id,
        webhook_id=webhook.id,
        shop_id=None,
        event=WebhookEvent.TEST,
        incident_id=ObjectId(),
        transition=0,
        incident={"test": True, "webhookId": str(webhook.id), "message": TEST_MESSAGE},
        now=now,
    )
    await upsert_deliveries([row])
    await record_admin_action(
        principal,
        SecurityAction.WEBHOOK_TESTED,
        target_kind="WEBHOOK",
        target_id=webhook.id,
        details={"delivery": str(row["_id"])},
    )
    lease_until, token = new_lease(now, settings)
    claimed = await claim_delivery(
        scope=principal.scope,
        delivery_id=row["_id"],
        now=now,
        lease_until=lease_until,
        token=token,
        owner=LEASE_OWNER,
    )
    if claimed is not None:
        await attempt_delivery(claimed, clock=utcnow, settings=settings, transport=transport)
    found = await get_delivery(scope=principal.scope, delivery_id=row["_id"])
    return found if found is not None else row
