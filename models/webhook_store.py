"""Data functions over webhooks and the delivery outbox.

Functions that serve a caller take the caller's `Scope` (webhooks belong to the whole
organization, so only its `org_id` applies). The delivery worker's `claim_due_delivery` is the
one system-wide read: it decides nothing by itself, it takes a lease with one conditional
update, and every later write on the row is conditional on that lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.paging import after_key, newest_first
from models.scope import Scope
from models.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from models.writes import delete_matching, set_returning, update_matching


def _webhooks() -> AsyncCollection:
    return Webhook.get_pymongo_collection()


def _deliveries() -> AsyncCollection:
    return WebhookDelivery.get_pymongo_collection()


def _one(scope: Scope, webhook_id: ObjectId) -> dict[str, Any]:
    return {"_id": webhook_id, "org_id": scope.org_id}


async def insert_webhook(*, scope: Scope, webhook: Webhook) -> Webhook:
    webhook.org_id = scope.org_id  # type: ignore[assignment]
    await webhook.insert()
    return webhook


async def count_webhooks(*, scope: Scope) -> int:
    return await _webhooks().count_documents({"org_id": scope.org_id})


async def get_webhook(*, scope: Scope, webhook_id: ObjectId) -> Webhook | None:
    return await Webhook.find_one(_one(scope, webhook_id))


async def list_webhooks(*, scope: Scope) -> list[Webhook]:
    """The organization's webhooks, newest first."""
    return await Webhook.find({"org_id": scope.org_id}).sort([("_id", DESCENDING)]).to_list()


async def update_webhook(
    *, scope: Scope, webhook_id: ObjectId, changes: dict[str, Any]
) -> Webhook | None:
    """Set `changes` (stored field -> stored value); the webhook afterwards, or None when
    it is not the organization's."""
    return await set_returning(Webhook, _one(scope, webhook_id), changes)


async def replace_secret(
    *,
    scope: Scope,
    webhook_id: ObjectId,
    expected_nonce: bytes,
    secret: dict[str, Any],
    previous_secret: dict[str, Any] | None,
    previous_valid_until: datetime | None,
    at: datetime,
) -> bool:
    """Install a new sealed secret if the current one is still the one sealed with
    `expected_nonce` (two concurrent rotations cannot both win and leave a secret nobody
    received)."""
    query = {**_one(scope, webhook_id), "secret.nonce": expected_nonce}
    changes = {
        "secret": secret,
        "previous_secret": previous_secret,
        "previous_valid_until": previous_valid_until,
        "secret_rotated_at": at,
    }
    result = await _webhooks().update_one(query, {"$set": changes})
    return result.modified_count == 1


async def delete_webhook(*, scope: Scope, webhook_id: ObjectId) -> bool:
    """Remove the webhook and its outbox rows (a delivery already being sent may still
    arrive once)."""
    result = await _webhooks().delete_one(_one(scope, webhook_id))
    await delete_matching(_deliveries(), {"org_id": scope.org_id, "webhook_id": webhook_id})
    return result.deleted_count == 1


async def subscribed_webhooks(
    *,
    scope: Scope,
    event: WebhookEvent,
    shop_id: ObjectId | None,
    session: AsyncClientSession,
) -> list[dict[str, Any]]:
    """Enabled webhooks subscribed to `event` that cover `shop_id`: those without a shop
    filter, and for a shop's incident those listing the shop."""
    covers: list[dict[str, Any]] = [{"shop_ids": {"$size": 0}}]
    if shop_id is not None:
        covers.append({"shop_ids": shop_id})
    query = {"org_id": scope.org_id, "enabled": True, "events": event.value, "$or": covers}
    cursor = _webhooks().find(query, {"_id": 1}, session=session)
    return await cursor.to_list(length=None)


async def note_success(*, scope: Scope, webhook_id: ObjectId, at: datetime) -> None:
    await _webhooks().update_one(
        _one(scope, webhook_id), {"$set": {"last_success_at": at, "failing_since": None}}
    )


async def note_failure(*, scope: Scope, webhook_id: ObjectId, at: datetime) -> Webhook | None:
    """Record a failed attempt; `failing_since` keeps the first failure of the streak."""
    await _webhooks().update_one(
        {**_one(scope, webhook_id), "failing_since": None}, {"$set": {"failing_since": at}}
    )
    return await set_returning(Webhook, _one(scope, webhook_id), {"last_failure_at": at})


async def disable_webhook(
    *, scope: Scope, webhook_id: ObjectId, at: datetime, reason: str, alert_lease_until: datetime
) -> bool:
    """Disable an enabled webhook; True for the one caller that did it. The alert about it
    is due at `alert_lease_until` unless that caller clears it first (`alert_told`)."""
    changes = {
        "disabled_at": at,
        "disabled_reason": reason,
        "disable_alert_due_at": alert_lease_until,
    }
    return await _switch(scope, webhook_id, enabled=False, update={"$set": changes})


async def claim_disable_alert(
    *, now: datetime, lease_until: datetime, org_id: ObjectId | None = None
) -> Webhook | None:
    """Take a disabling whose alert is overdue (its worker died before telling the alerts
    engine) until `lease_until`; None when there is none."""
    query: dict[str, Any] = {"disable_alert_due_at": {"$lte": now}}
    if org_id is not None:
        query["org_id"] = org_id
    return await set_returning(Webhook, query, {"disable_alert_due_at": lease_until})


async def alert_told(*, scope: Scope, webhook_id: ObjectId) -> None:
    await _webhooks().update_one(_one(scope, webhook_id), {"$unset": {"disable_alert_due_at": ""}})


async def enable_webhook(*, scope: Scope, webhook_id: ObjectId, at: datetime) -> bool:
    """Enable a disabled webhook again (after a successful test); True for the one caller
    that did it."""
    changes = {
        "disabled_at": None,
        "disabled_reason": None,
        "failing_since": None,
        "last_success_at": at,
    }
    update = {"$set": changes, "$unset": {"disable_alert_due_at": ""}}
    return await _switch(scope, webhook_id, enabled=True, update=update)


async def _switch(
    scope: Scope, webhook_id: ObjectId, *, enabled: bool, update: dict[str, Any]
) -> bool:
    """Apply `update`, setting `enabled` with it, to the webhook unless it already is
    `enabled`; True for the one caller that switched it."""
    result = await _webhooks().update_one(
        {**_one(scope, webhook_id), "enabled": not enabled},
        {**update, "$set": {"enabled": enabled, **update.get("$set", {})}},
    )
    return result.modified_count == 1


async def upsert_deliveries(
    rows: Sequence[dict[str, Any]], *, session: AsyncClientSession | None = None
) -> int:
    """Insert each row unless its (org, webhook, incident, transition) is already in the
    outbox; how many were new. An upsert, not an insert: inside a transaction a duplicate
    key would abort the caller's whole transaction."""
    if not rows:
        return 0
    operations = [
        UpdateOne(
            {
                "org_id": row["org_id"],
                "webhook_id": row["webhook_id"],
                "incident_id": row["incident_id"],
                "transition": row["transition"],
            },
            {"$setOnInsert": row},
            upsert=True,
        )
        for row in rows
    ]
    result = await _deliveries().bulk_write(operations, ordered=True, session=session)
    return result.upserted_count


def _lease(now: datetime, lease_until: datetime, token: str, owner: str) -> dict[str, Any]:
    return {
        "$set": {
            "next_attempt_at": lease_until,
            "lease_token": token,
            "lease_owner": owner,
            "last_attempt_at": now,
        },
        "$inc": {"attempts": 1},
    }


async def claim_due_delivery(
    *,
    now: datetime,
    lease_until: datetime,
    token: str,
    owner: str,
    org_id: ObjectId | None = None,
) -> dict[str, Any] | None:
    """Take the most overdue PENDING delivery (of every organization, or only `org_id`'s)
    for this worker until `lease_until`; None when nothing is due. A row whose lease lapsed
    (its worker died) is due again."""
    query: dict[str, Any] = {
        "status": DeliveryStatus.PENDING.value,
        "next_attempt_at": {"$lte": now},
    }
    if org_id is not None:
        query["org_id"] = org_id
    return await _deliveries().find_one_and_update(
        query,
        _lease(now, lease_until, token, owner),
        sort=[("next_attempt_at", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


async def claim_delivery(
    *,
    scope: Scope,
    delivery_id: ObjectId,
    now: datetime,
    lease_until: datetime,
    token: str,
    owner: str,
) -> dict[str, Any] | None:
    """Take one delivery if it is due and nobody holds it (testWebhook sends its own)."""
    query = {
        "_id": delivery_id,
        "org_id": scope.org_id,
        "status": DeliveryStatus.PENDING.value,
        "next_attempt_at": {"$lte": now},
    }
    return await _deliveries().find_one_and_update(
        query, _lease(now, lease_until, token, owner), return_document=ReturnDocument.AFTER
    )


async def finish_attempt(*, delivery_id: ObjectId, token: str, changes: dict[str, Any]) -> bool:
    """Record an attempt's outcome if this worker still holds the lease; False when another
    worker took the delivery over (its result stands)."""
    result = await _deliveries().update_one(
        {"_id": delivery_id, "lease_token": token}, {"$set": {**changes, "lease_token": None}}
    )
    return result.modified_count == 1


async def drop_orphan(*, delivery_id: ObjectId, token: str) -> None:
    """Remove a delivery whose webhook no longer exists."""
    await _deliveries().delete_one({"_id": delivery_id, "lease_token": token})


async def fail_pending_deliveries(
    *, scope: Scope, webhook_id: ObjectId, at: datetime, reason: str
) -> int:
    pending = {
        "org_id": scope.org_id,
        "webhook_id": webhook_id,
        "status": DeliveryStatus.PENDING.value,
    }
    return await update_matching(
        _deliveries(),
        pending,
        {
            "$set": {
                "status": DeliveryStatus.FAILED.value,
                "last_error": reason,
                "lease_token": None,
                "last_attempt_at": at,
            }
        },
    )


async def get_delivery(*, scope: Scope, delivery_id: ObjectId) -> dict[str, Any] | None:
    return await _deliveries().find_one({"_id": delivery_id, "org_id": scope.org_id})


async def list_deliveries(
    *,
    scope: Scope,
    webhook_id: ObjectId,
    before: tuple[datetime, ObjectId] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest first, older than the `before` key."""
    query: dict[str, Any] = {"org_id": scope.org_id, "webhook_id": webhook_id}
    if before is not None:
        query.update(after_key("created_at", before))
    cursor = _deliveries().find(query, {"body": 0}).sort(newest_first("created_at")).limit(limit)
    return await cursor.to_list(length=None)
