"""Registering, listing, rotating and deleting an organization's webhooks (ORG_ADMIN).

The signing secret is returned by `create_webhook` and `rotate_webhook_secret` only, once;
at rest it is sealed (`secrets.py`). Every change is appended to the security log with the
URL's host, never the whole URL (its path or query may hold a token of the receiver).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from bson import ObjectId

from auth.principal import Principal
from config import Settings
from infra.outbound import UrlRefused, resolve_target
from models.organization import utcnow
from models.webhook_store import (
    count_webhooks,
    delete_webhook,
    get_webhook,
    insert_webhook,
    list_webhooks,
    replace_secret,
    update_webhook,
)
from models.webhooks import Webhook, WebhookEvent
from resolvers.errors import CommonErrorCode, ServiceError, UserError, not_found, raise_if_any
from resolvers.fleet.shops import find_shops
from resolvers.identity.security_log import SecurityAction, record_admin_action, store_update
from resolvers.ids import parse_object_id
from resolvers.updates import Unchanged
from resolvers.validation import check_overlap
from resolvers.webhooks.delivery import url_policy
from resolvers.webhooks.errors import WebhookErrorCode
from resolvers.webhooks.secrets import generate_secret, seal

MAX_WEBHOOKS = 20
MAX_SHOP_FILTER = 500


@dataclass(frozen=True)
class IssuedSecret:
    """A webhook and its new signing secret, shown to the caller exactly once."""

    webhook: Webhook
    secret: str


async def url_problem(url: str, *, settings: Settings, field: str) -> UserError | None:
    """None when `url` may receive deliveries; else INVALID when it is not a usable URL,
    URL_NOT_ALLOWED when the policy refuses it (plain http in production, a host that is or
    resolves to a loopback, private, link-local, multicast or reserved address)."""
    try:
        await resolve_target(url, url_policy(settings))
    except UrlRefused as exc:
        if exc.policy:
            return UserError(
                field,
                WebhookErrorCode.URL_NOT_ALLOWED,
                f"{exc.reason}: webhooks go to public https addresses only",
            )
        return UserError(field, CommonErrorCode.INVALID, f"URL {exc.reason}")
    return None


def _check_events(events: list[WebhookEvent]) -> tuple[list[WebhookEvent], UserError | None]:
    wanted = list(dict.fromkeys(events))
    if not wanted:
        return wanted, UserError(
            "input.events", CommonErrorCode.INVALID, "subscribe to at least one event"
        )
    if WebhookEvent.TEST in wanted:
        return wanted, UserError(
            "input.events",
            CommonErrorCode.INVALID,
            "TEST is not a subscription: testWebhook sends it to the webhook it names",
        )
    return wanted, None


async def _check_shops(
    principal: Principal, shop_ids: list[str] | None
) -> tuple[list[ObjectId], UserError | None]:
    if not shop_ids:
        return [], None
    wanted = list(dict.fromkeys(shop_ids))
    if len(wanted) > MAX_SHOP_FILTER:
        return [], UserError(
            "input.shopIds", CommonErrorCode.INVALID, f"at most {MAX_SHOP_FILTER} shops"
        )
    oids = [parse_object_id(s) for s in wanted]
    valid = [oid for oid in oids if oid is not None]
    found = await find_shops(principal=principal, shop_ids=valid) if valid else []
    if len(found) != len(wanted):
        return [], UserError(
            "input.shopIds",
            CommonErrorCode.INVALID,
            "every shop must exist in the organization (leave out for all shops)",
        )
    return [shop.id for shop in found], None


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


async def create_webhook(
    *,
    principal: Principal,
    url: str,
    events: list[WebhookEvent],
    shop_ids: list[str] | None,
    settings: Settings,
) -> IssuedSecret:
    """A webhook of the caller's organization, and its signing secret (shown once)."""
    url = url.strip()
    wanted_events, events_problem = _check_events(events)
    shops, shops_problem = await _check_shops(principal, shop_ids)
    raise_if_any(
        await url_problem(url, settings=settings, field="input.url"),
        events_problem,
        shops_problem,
    )
    if await count_webhooks(scope=principal.scope) >= MAX_WEBHOOKS:
        raise ServiceError.of(
            WebhookErrorCode.TOO_MANY_WEBHOOKS,
            f"an organization has at most {MAX_WEBHOOKS} webhooks: delete one first",
        )
    webhook_id = ObjectId()
    secret = generate_secret()
    sealed = seal(
        secret, keys=settings.webhook_secret_keys, org_id=principal.org_id, webhook_id=webhook_id
    )
    webhook = await insert_webhook(
        scope=principal.scope,
        webhook=Webhook(
            id=webhook_id,
            org_id=principal.org_id,
            url=url,
            events=wanted_events,
            shop_ids=shops,
            secret=sealed,
            created_by=principal.user_id,
        ),
    )
    await record_admin_action(
        principal,
        SecurityAction.WEBHOOK_CREATED,
        target_kind="WEBHOOK",
        target_id=webhook_id,
        details={
            "host": _host(url),
            "events": ",".join(e.value for e in wanted_events),
            "shops": str(len(shops)) if shops else "all",
        },
    )
    return IssuedSecret(webhook=webhook, secret=secret)


async def change_webhook(
    *,
    principal: Principal,
    webhook_id: str,
    url: str | Unchanged,
    events: list[WebhookEvent] | Unchanged,
    shop_ids: list[str] | Unchanged,
    settings: Settings,
) -> Webhook:
    """Change a webhook's URL, events or shops (`[]`: every shop); the webhook afterwards.
    Deliveries still waiting go to the new URL; rows already enqueued keep their event and
    shop (the filter applies to transitions enqueued from now on)."""
    webhook = await find_webhook(principal, webhook_id, field="input.id")
    assert webhook.id is not None
    changes: dict[str, Any] = {}
    problems: list[UserError | None] = []
    if not isinstance(url, Unchanged):
        url = url.strip()
        problems.append(await url_problem(url, settings=settings, field="input.url"))
        changes["url"] = url
    if not isinstance(events, Unchanged):
        wanted_events, events_problem = _check_events(events)
        problems.append(events_problem)
        changes["events"] = [e.value for e in wanted_events]
    if not isinstance(shop_ids, Unchanged):
        shops, shops_problem = await _check_shops(principal, shop_ids)
        problems.append(shops_problem)
        changes["shop_ids"] = shops
    raise_if_any(problems)
    return await store_update(
        principal,
        SecurityAction.WEBHOOK_UPDATED,
        current=webhook,
        changes=changes,
        write=partial(update_webhook, scope=principal.scope, webhook_id=webhook.id),
        what="webhook",
        field="input.id",
        target_kind="WEBHOOK",
        details_of=lambda stored: {"host": _host(stored.url)},
    )


async def find_webhooks(*, principal: Principal) -> list[Webhook]:
    """The organization's webhooks (never their secrets), newest first."""
    return await list_webhooks(scope=principal.scope)


async def find_webhook(principal: Principal, webhook_id: str, *, field: str = "id") -> Webhook:
    oid = parse_object_id(webhook_id)
    webhook = await get_webhook(scope=principal.scope, webhook_id=oid) if oid else None
    if webhook is None:
        raise not_found("webhook", field=field)
    return webhook


async def rotate_webhook_secret(
    *, principal: Principal, webhook_id: str, overlap_seconds: int, settings: Settings
) -> IssuedSecret:
    """A new signing secret (shown once). For `overlap_seconds` deliveries carry a second
    signature made with the previous secret, so the receiver can switch at any moment of it;
    rotating again during an overlap ends the older secret at once (one previous is kept)."""
    raise_if_any(check_overlap("overlapSeconds", overlap_seconds))
    webhook = await find_webhook(principal, webhook_id)
    assert webhook.id is not None
    now = utcnow()
    secret = generate_secret()
    sealed = seal(
        secret, keys=settings.webhook_secret_keys, org_id=principal.org_id, webhook_id=webhook.id
    )
    keep = overlap_seconds > 0
    until: datetime | None = now + timedelta(seconds=overlap_seconds) if keep else None
    if not await replace_secret(
        scope=principal.scope,
        webhook_id=webhook.id,
        expected_nonce=webhook.secret["nonce"],
        secret=sealed,
        previous_secret=webhook.secret if keep else None,
        previous_valid_until=until,
        at=now,
    ):
        raise ServiceError.of(
            CommonErrorCode.CONFLICT,
            "the webhook's secret was rotated concurrently; read it again",
            field="id",
            retryable=True,
        )
    await record_admin_action(
        principal,
        SecurityAction.WEBHOOK_SECRET_ROTATED,
        target_kind="WEBHOOK",
        target_id=webhook.id,
        details={"host": _host(webhook.url), "overlapSeconds": str(overlap_seconds)},
    )
    refreshed = await find_webhook(principal, webhook_id)
    return IssuedSecret(webhook=refreshed, secret=secret)


async def remove_webhook(*, principal: Principal, webhook_id: str) -> ObjectId:
    """Delete the webhook and its deliveries; the id it had."""
    webhook = await find_webhook(principal, webhook_id)
    assert webhook.id is not None
    if not await delete_webhook(scope=principal.scope, webhook_id=webhook.id):
        raise not_found("webhook", field="id")
    await record_admin_action(
        principal,
        SecurityAction.WEBHOOK_DELETED,
        target_kind="WEBHOOK",
        target_id=webhook.id,
        details={"host": _host(webhook.url)},
    )
    return webhook.id
