"""Root Query fields of webhooks."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.webhooks.types import WebhookDeliveryConnection, WebhookType
from resolvers.webhooks.deliveries import delivery_page
from resolvers.webhooks.webhooks import find_webhooks


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The organization's webhooks, newest first; never secrets.")
    async def webhooks(self, info: Info) -> list[WebhookType]:
        return await find_webhooks(principal=info.context.require_principal())

    @strawberry.field(
        description="A webhook's deliveries, newest first; `first` is 1 to 100. Kept 30 days."
    )
    async def webhook_deliveries(
        self, info: Info, webhook_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> WebhookDeliveryConnection:
        return await delivery_page(
            principal=info.context.require_principal(),
            webhook_id=webhook_id,
            first=first,
            after=after,
        )
