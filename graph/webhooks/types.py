"""Webhooks and their deliveries; each reads its source by field name (never a secret)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from graph.common import Connection, Payload
from graph.enums import WebhookDeliveryStatus, WebhookEvent
from models.webhooks import Webhook
from resolvers.webhooks.deliveries import delivery_status, next_attempt_due


@strawberry.type(name="Webhook")
class WebhookType:
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]
    shop_ids: list[strawberry.ID] = strawberry.field(description="Empty: every shop.")
    enabled: bool = strawberry.field(
        description="False after 24 h of failed deliveries; a successful testWebhook "
        "enables it again."
    )
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None = strawberry.field(
        description="The first failed attempt since the last success."
    )
    last_success_at: datetime | None
    last_failure_at: datetime | None
    created_by: strawberry.ID | None
    created_at: datetime
    secret_rotated_at: datetime | None

    @strawberry.field(
        description="During a rotation's overlap: until when deliveries are also signed "
        "with the previous secret."
    )
    def previous_secret_valid_until(self, root: strawberry.Parent[Webhook]) -> datetime | None:
        until = root.previous_valid_until
        return until if until is not None and until > datetime.now(UTC) else None


@strawberry.type(name="WebhookDelivery")
class WebhookDeliveryType:
    id: strawberry.ID = strawberry.field(
        description="The delivery id: the body's `id` and the `Cashcc-Delivery` header, the "
        "same on every attempt."
    )
    webhook_id: strawberry.ID
    event: WebhookEvent
    incident_id: strawberry.ID
    transition: int
    shop_id: strawberry.ID | None
    attempts: int = strawberry.field(description="Attempts started so far.")
    created_at: datetime
    last_attempt_at: datetime | None
    last_response_status: int | None = strawberry.field(
        description="HTTP status of the last answer; null when there was none."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed (status and the start of the answer, a "
        "timeout, a refused URL); null after a success."
    )
    delivered_at: datetime | None

    @strawberry.field(
        description="SENDING: a worker holds it now; PENDING: waiting for `nextAttemptAt`."
    )
    def status(self, root: strawberry.Parent[dict[str, Any]]) -> WebhookDeliveryStatus:
        return delivery_status(root, now=datetime.now(UTC))

    @strawberry.field(description="While PENDING: when the next attempt is due.")
    def next_attempt_at(self, root: strawberry.Parent[dict[str, Any]]) -> datetime | None:
        return next_attempt_due(root, now=datetime.now(UTC))


WebhookDeliveryConnection = Connection[WebhookDeliveryType]


@strawberry.type
class CreateWebhookPayload(Payload):
    webhook: WebhookType | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret, shown only in this response: the HMAC key of "
        "`Cashcc-Signature` (docs/alerts.md#webhooks).",
    )


@strawberry.type
class UpdateWebhookPayload(Payload):
    webhook: WebhookType | None = None


@strawberry.type
class RotateWebhookSecretPayload(Payload):
    webhook: WebhookType | None = None
    secret: str | None = strawberry.field(
        default=None, description="The new signing secret, shown only in this response."
    )


@strawberry.type
class DeleteWebhookPayload(Payload):
    deleted_webhook_id: strawberry.ID | None = None


@strawberry.type
class TestWebhookPayload(Payload):
    delivery: WebhookDeliveryType | None = strawberry.field(
        default=None,
        description="DELIVERED, or PENDING/SENDING with the error and the next attempt.",
    )
