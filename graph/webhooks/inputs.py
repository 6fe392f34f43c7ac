"""Inputs of the webhook mutations."""

from __future__ import annotations

import strawberry

from graph.enums import WebhookEvent


@strawberry.input
class CreateWebhookInput:
    url: str = strawberry.field(
        description="https URL of a public host (production); at most 2,048 characters."
    )
    events: list[WebhookEvent] = strawberry.field(
        description="The transitions to deliver (not TEST: testWebhook sends that)."
    )
    shop_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only incidents of these shops; omit for every shop (and for "
        "organization-level incidents).",
    )


@strawberry.input(description="Only the fields given change.")
class UpdateWebhookInput:
    id: strawberry.ID
    url: str | None = strawberry.field(
        default=strawberry.UNSET, description="Waiting deliveries go to the new URL."
    )
    events: list[WebhookEvent] | None = strawberry.UNSET
    shop_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the shop filter; null or [] for every shop."
    )
