"""Webhook documents: the endpoints an organization registered, and the delivery outbox.

A `Webhook` holds its signing secret sealed (AES-GCM, `resolvers/webhooks/secrets.py`): the
secret must be usable for HMAC, so it cannot be hashed. A `WebhookDelivery` is one row of the
durable outbox: written in the transaction that records an incident transition, unique per
(organization, webhook, incident, transition), and sent by whichever worker claims it
(docs/alerts.md#webhooks).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field

from models.indexes import ascending, expiry
from models.organization import utcnow


class WebhookEvent(StrEnum):
    """What a delivery reports. A webhook subscribes to a subset of the first four; TEST is
    what `testWebhook` sends, to the one webhook it names."""

    FIRING = "FIRING"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    FLAPPING = "FLAPPING"
    TEST = "TEST"


class DeliveryStatus(StrEnum):
    """PENDING: waiting for its next attempt (or being sent, while a worker holds its lease);
    DELIVERED: a 2xx answer was recorded; FAILED: given up (24 h of failures, or its webhook
    was disabled)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Webhook(Document):
    """An HTTPS endpoint that receives an organization's incident transitions.

    `shop_ids` empty means every shop. `secret` is the sealed current signing secret;
    during a rotation `previous_secret` still signs (a second `v1=`) until
    `previous_valid_until`. `failing_since` is the first failed attempt since the last
    success: 24 h of it disables the webhook. `disable_alert_due_at` is set while the
    alerts engine has not yet been told about a disabling: the worker that disabled it tells
    it at once, and any worker does when that one died first (the time is its lease)."""

    org_id: PydanticObjectId
    url: str
    events: list[WebhookEvent]
    shop_ids: list[PydanticObjectId] = Field(default_factory=list)
    secret: dict[str, Any]
    previous_secret: dict[str, Any] | None = None
    previous_valid_until: datetime | None = None
    enabled: bool = True
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    disable_alert_due_at: datetime | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    created_by: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utcnow)
    secret_rotated_at: datetime | None = None

    class Settings:
        name = "webhooks"
        indexes = [
            ascending("org_id", "enabled"),
            ascending("disable_alert_due_at", name="disable_alert_due", sparse=True),
        ]


class WebhookDelivery(Document):
    """One outbox row: the body sent on every attempt (the same bytes, the same id).

    A worker claims a due row by moving `next_attempt_at` to the end of its lease and setting
    `lease_token` (one conditional update); its outcome is recorded only while that token is
    still the row's, so a worker whose lease lapsed cannot overwrite the next one's result.
    Rows expire `expires_at` (30 days after creation)."""

    id: PydanticObjectId = Field(alias="_id")  # type: ignore[assignment]
    org_id: PydanticObjectId
    webhook_id: PydanticObjectId
    shop_id: PydanticObjectId | None = None
    incident_id: PydanticObjectId
    transition: int
    event: WebhookEvent
    body: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    created_at: datetime
    next_attempt_at: datetime
    expires_at: datetime
    lease_token: str | None = None
    lease_owner: str | None = None
    last_attempt_at: datetime | None = None
    last_response_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    class Settings:
        name = "webhook_deliveries"
        indexes = [
            ascending(
                "org_id",
                "webhook_id",
                "incident_id",
                "transition",
                unique=True,
                name="one_delivery_per_transition",
            ),
            ascending("status", "next_attempt_at", name="due"),
            ascending("org_id", "webhook_id", "created_at", "_id", name="history"),
            expiry("webhook_deliveries_ttl"),
        ]
