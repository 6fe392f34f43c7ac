"""Root Mutation fields of webhooks (ORG_ADMIN)."""

from __future__ import annotations

import strawberry

from graph.common import given
from graph.context import Info
from graph.webhooks.inputs import CreateWebhookInput, UpdateWebhookInput
from graph.webhooks.types import (
    CreateWebhookPayload,
    DeleteWebhookPayload,
    RotateWebhookSecretPayload,
    TestWebhookPayload,
    UpdateWebhookPayload,
)
from resolvers.updates import UNCHANGED
from resolvers.webhooks.deliveries import send_test_delivery
from resolvers.webhooks.webhooks import (
    change_webhook,
    create_webhook,
    remove_webhook,
    rotate_webhook_secret,
)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Register an endpoint for incident transitions; the signing secret is "
        "returned here only."
    )
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
        issued = await create_webhook(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return CreateWebhookPayload.of(issued)

    @strawberry.mutation(description="Change a webhook's URL, events or shops; its secret stays.")
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> UpdateWebhookPayload:
        webhook = await change_webhook(
            principal=info.context.require_principal(),
            webhook_id=input.id,
            url=given(input.url, null=UNCHANGED),
            events=given(input.events, list, null=UNCHANGED),
            shop_ids=given(input.shop_ids, null=[]),
            settings=info.context.settings,
        )
        return UpdateWebhookPayload(webhook=webhook)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="A new signing secret (returned here only); for `overlapSeconds` (0 to "
        "7 days) deliveries are also signed with the previous one."
    )
    async def rotate_webhook_secret(
        self, info: Info, id: strawberry.ID, overlap_seconds: int = 86_400
    ) -> RotateWebhookSecretPayload:
        issued = await rotate_webhook_secret(
            principal=info.context.require_principal(),
            webhook_id=id,
            overlap_seconds=overlap_seconds,
            settings=info.context.settings,
        )
        return RotateWebhookSecretPayload.of(issued)

    @strawberry.mutation(description="Delete a webhook and its delivery history.")
    async def delete_webhook(self, info: Info, id: strawberry.ID) -> DeleteWebhookPayload:
        deleted = await remove_webhook(principal=info.context.require_principal(), webhook_id=id)
        return DeleteWebhookPayload(deleted_webhook_id=strawberry.ID(str(deleted)))

    @strawberry.mutation(
        description="Send a TEST delivery through the outbox now; answers with its outcome, "
        "or that it is queued. A success enables a disabled webhook again."
    )
    async def test_webhook(self, info: Info, id: strawberry.ID) -> TestWebhookPayload:
        delivery = await send_test_delivery(
            principal=info.context.require_principal(),
            webhook_id=id,
            settings=info.context.settings,
        )
        return TestWebhookPayload(delivery=delivery)  # type: ignore[arg-type]
