"""PLACEHOLDER until the webhooks branch is merged (it replaces this file): the contract the
alerts engine calls inside its transition transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from models.webhooks import WebhookEvent


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
    return 0
