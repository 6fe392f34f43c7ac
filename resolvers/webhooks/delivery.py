"""One attempt of one claimed delivery: check the URL again, sign, POST, record the outcome.

The caller holds the delivery's lease (`lease_token`); every write about the attempt is
conditional on it, so when a lease lapsed and another worker took the delivery over, the
slower worker's outcome is dropped and the newer one stands. A failure schedules the next
attempt (`policy.py`); 24 h of failures without a success disables the webhook, marks its
pending deliveries FAILED, and tells the alerts engine (`resolvers.alerts.system`).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from config import Settings
from infra.outbound import (
    RequestFailed,
    Resolver,
    UrlPolicy,
    UrlRefused,
    post,
    resolve_target,
    system_resolver,
)
from models.scope import Scope
from models.webhook_store import (
    alert_told,
    disable_webhook,
    drop_orphan,
    enable_webhook,
    fail_pending_deliveries,
    finish_attempt,
    get_webhook,
    note_failure,
    note_success,
)
from models.webhooks import DeliveryStatus, Webhook, WebhookEvent
from resolvers.alerts.system import webhook_disabled
from resolvers.identity.security_log import SecurityAction, record_event
from resolvers.webhooks.policy import disable_due, next_attempt, succeeded
from resolvers.webhooks.secrets import SecretUnavailable, open_sealed
from resolvers.webhooks.signing import SIGNATURE_HEADER, signature_header

log = logging.getLogger(__name__)

LEASE_OWNER = f"{socket.gethostname()}:{os.getpid()}"
MAX_ERROR_LENGTH = 300
DISABLED_REASON = "failing for 24 h"
Clock = Callable[[], datetime]
_jitter = random.SystemRandom()


@dataclass(frozen=True)
class Transport:
    """How deliveries reach the network: the resolver and TLS trust (tests inject theirs)."""

    resolver: Resolver = system_resolver
    ssl_context: ssl.SSLContext | None = None


DEFAULT_TRANSPORT = Transport()


class Outcome(StrEnum):
    DELIVERED = "DELIVERED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"
    DROPPED = "DROPPED"
    TAKEN_OVER = "TAKEN_OVER"


@dataclass(frozen=True)
class Sent:
    status: int | None
    error: str | None


def new_lease(now: datetime, settings: Settings) -> tuple[datetime, str]:
    return now + timedelta(seconds=settings.webhook_lease_seconds), uuid.uuid4().hex


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(
        require_https=settings.is_production, allow_private=settings.webhook_allow_private
    )


def signing_secrets(webhook: Webhook, *, now: datetime, settings: Settings) -> list[str]:
    """The current secret, and the previous one while its overlap runs."""
    keys = settings.webhook_secret_keys
    ids = {"org_id": webhook.org_id, "webhook_id": webhook.id}
    found = [open_sealed(webhook.secret, keys=keys, **ids)]
    until = webhook.previous_valid_until
    if webhook.previous_secret is not None and until is not None and until > now:
        found.append(open_sealed(webhook.previous_secret, keys=keys, **ids))
    return found


def _ids(webhook: Webhook) -> dict[str, Any]:
    """The keywords that name one webhook to the store."""
    return {"scope": Scope.organization(webhook.org_id), "webhook_id": webhook.id}


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()


async def send(
    delivery: dict[str, Any],
    webhook: Webhook,
    *,
    now: datetime,
    settings: Settings,
    transport: Transport = DEFAULT_TRANSPORT,
) -> Sent:
    """POST the delivery's body, signed for `now`; the answer's status or why there is none."""
    try:
        target = await resolve_target(
            webhook.url, url_policy(settings), resolver=transport.resolver
        )
        secrets = signing_secrets(webhook, now=now, settings=settings)
    except UrlRefused as exc:
        return Sent(None, f"URL refused: {exc.reason}")
    except SecretUnavailable as exc:
        log.error("webhooks: %s", exc)
        return Sent(None, "signing secret unavailable: was WEBHOOK_SECRET_KEY replaced?")
    body = delivery["body"].encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secrets, timestamp=int(now.timestamp()), body=body),
        "Cashcc-Delivery": str(delivery["_id"]),
        "Cashcc-Event": delivery["event"],
        "Cashcc-Attempt": str(delivery["attempts"]),
    }
    try:
        answer = await post(
            target,
            body,
            headers,
            seconds=settings.webhook_timeout_seconds,
            ssl_context=transport.ssl_context,
        )
    except RequestFailed as exc:
        return Sent(None, exc.reason)
    if succeeded(answer.status):
        return Sent(answer.status, None)
    note = " (redirects are not followed)" if 300 <= answer.status < 400 else ""
    excerpt = _printable(answer.excerpt)
    error = f"HTTP {answer.status}{note}" + (f": {excerpt}" if excerpt else "")
    return Sent(answer.status, error[:MAX_ERROR_LENGTH])


async def attempt_delivery(
    delivery: dict[str, Any],
    *,
    clock: Clock,
    settings: Settings,
    transport: Transport = DEFAULT_TRANSPORT,
) -> Outcome:
    """Send a delivery this worker has claimed and record what happened."""
    scope = Scope.organization(delivery["org_id"])
    token = delivery["lease_token"]
    webhook = await get_webhook(scope=scope, webhook_id=delivery["webhook_id"])
    if webhook is None:
        await drop_orphan(delivery_id=delivery["_id"], token=token)
        return Outcome.DROPPED
    test = delivery["event"] == WebhookEvent.TEST.value
    if not webhook.enabled and not test:
        changes = {"status": DeliveryStatus.FAILED.value, "last_error": "webhook disabled"}
        await finish_attempt(delivery_id=delivery["_id"], token=token, changes=changes)
        return Outcome.FAILED
    sent = await send(delivery, webhook, now=clock(), settings=settings, transport=transport)
    now = clock()
    if succeeded(sent.status):
        return await _record_success(delivery, webhook, sent, now=now, test=test)
    return await _record_failure(delivery, webhook, sent, now=now, settings=settings)


async def _record_success(
    delivery: dict[str, Any], webhook: Webhook, sent: Sent, *, now: datetime, test: bool
) -> Outcome:
    ids = _ids(webhook)
    changes = {
        "status": DeliveryStatus.DELIVERED.value,
        "delivered_at": now,
        "last_response_status": sent.status,
        "last_error": None,
    }
    mine = await finish_attempt(
        delivery_id=delivery["_id"], token=delivery["lease_token"], changes=changes
    )
    await note_success(**ids, at=now)
    if test and not webhook.enabled and await enable_webhook(**ids, at=now):
        await record_event(
            org_id=webhook.org_id,
            action=SecurityAction.WEBHOOK_ENABLED,
            target_kind="WEBHOOK",
            target_id=webhook.id,
            details={"reason": "test delivery succeeded"},
        )
    return Outcome.DELIVERED if mine else Outcome.TAKEN_OVER


async def _record_failure(
    delivery: dict[str, Any], webhook: Webhook, sent: Sent, *, now: datetime, settings: Settings
) -> Outcome:
    updated = await note_failure(**_ids(webhook), at=now)
    failing_since = updated.failing_since if updated is not None else None
    disable = bool(updated and updated.enabled and disable_due(failing_since, now))
    retry_at = next_attempt(
        failed_attempts=delivery["attempts"],
        created_at=delivery["created_at"],
        now=now,
        rng=_jitter,
    )
    changes: dict[str, Any] = {"last_response_status": sent.status, "last_error": sent.error}
    give_up = retry_at is None or disable or not webhook.enabled
    if give_up:
        changes["status"] = DeliveryStatus.FAILED.value
    else:
        changes["next_attempt_at"] = retry_at
    mine = await finish_attempt(
        delivery_id=delivery["_id"], token=delivery["lease_token"], changes=changes
    )
    if disable and failing_since is not None:
        await _disable(webhook, failing_since=failing_since, now=now, settings=settings)
    if not mine:
        return Outcome.TAKEN_OVER
    return Outcome.FAILED if give_up else Outcome.RETRYING


async def _disable(
    webhook: Webhook, *, failing_since: datetime, now: datetime, settings: Settings
) -> None:
    """Disable the webhook once (whichever worker wins the conditional update), fail its
    pending deliveries, log it, and tell the alerts engine (`tell_disabled`)."""
    scope = Scope.organization(webhook.org_id)
    webhook_id = webhook.id
    assert webhook_id is not None
    alert_lease_until, _ = new_lease(now, settings)
    if not await disable_webhook(
        scope=scope,
        webhook_id=webhook_id,
        at=now,
        reason=DISABLED_REASON,
        alert_lease_until=alert_lease_until,
    ):
        return
    reason = f"webhook disabled: {DISABLED_REASON}"
    await fail_pending_deliveries(scope=scope, webhook_id=webhook_id, at=now, reason=reason)
    await record_event(
        org_id=webhook.org_id,
        action=SecurityAction.WEBHOOK_DISABLED,
        target_kind="WEBHOOK",
        target_id=webhook_id,
        details={"failingSince": failing_since.isoformat(), "reason": DISABLED_REASON},
    )
    await tell_disabled(webhook, failing_since=failing_since)


async def tell_disabled(webhook: Webhook, *, failing_since: datetime) -> None:
    """Raise the alert about a disabled webhook, then mark it told. A worker that dies in
    between leaves `disable_alert_due_at` set, and a later pass tells again (the alert is
    one incident per webhook, so telling twice opens it once)."""
    assert webhook.id is not None
    await webhook_disabled(
        org_id=webhook.org_id, webhook_id=webhook.id, url=webhook.url, failing_since=failing_since
    )
    await alert_told(scope=Scope.organization(webhook.org_id), webhook_id=webhook.id)
