"""The delivery worker against real receivers on loopback, with an injected clock: retries
with the same id and bytes, the retry schedule, disabling, the documented signature check,
and what outbound requests refuse (redirects, slow answers, private targets, a TLS name that
does not match)."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

import resolvers.webhooks.delivery as delivery_module
from auth.principal import principal_for_user
from config import Settings
from infra.outbound import UrlPolicy, UrlRefused, resolve_target
from models.scope import Scope
from models.security_log import SecurityEvent
from models.webhook_store import get_webhook, update_webhook
from models.webhooks import WebhookEvent
from resolvers.webhooks.deliveries import send_test_delivery
from resolvers.webhooks.delivery import Transport
from resolvers.webhooks.outbox import delivery_body
from resolvers.webhooks.policy import disable_due, next_attempt, nominal_delay, retry_delay
from resolvers.webhooks.worker import deliver_due
from tests.factories import Factory
from tests.identity_helpers import production_settings
from tests.webhook_support import (
    OK,
    ManualClock,
    documented_verify,
    enqueue,
    private_settings,
    receiver,
    register,
    stored_deliveries,
    tls_pair,
)

PUBLIC = "93.184.215.14"


def signed_at(header: str) -> int:
    return int(dict(part.split("=", 1) for part in header.split(","))["t"])


def loopback(addresses: list[str]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    return resolve


async def test_a_receiver_that_fails_then_recovers_gets_the_same_delivery_id_and_bytes(
    factory: Factory, settings: Settings
) -> None:
    # given a receiver that answers 500, then 503, then 200
    replies = {0: (500, b"boom", {}), 1: (503, b"later", {})}
    test_settings = private_settings(settings)
    clock = ManualClock()
    with receiver(lambda index, request: replies.get(index, OK)) as hook:
        tenant = await factory.tenant(shops=0)
        await register(tenant, hook.url(), settings=test_settings)
        assert await enqueue(tenant, now=clock()) == 1

        async def run() -> None:
            await deliver_due(settings=test_settings, clock=clock, org_id=tenant.org.id)

        # when the worker runs, and again whenever the row is due
        await run()
        [row] = await stored_deliveries(tenant)
        first_wait = (row["next_attempt_at"] - clock()).total_seconds()
        clock.advance(seconds=1)
        await run()  # not due yet: nothing is sent
        assert hook.count() == 1
        clock.now = row["next_attempt_at"]
        await run()
        [row] = await stored_deliveries(tenant)
        second_wait = (row["next_attempt_at"] - clock()).total_seconds()
        clock.now = row["next_attempt_at"]
        await run()
        clock.advance(hours=2)
        await run()  # delivered: never sent again

    # then three attempts carried one id and one body, the waits doubled, the row is done
    got = hook.received
    assert len(got) == 3
    assert {r.delivery_id for r in got} == {str(row["_id"])}
    assert {r.body for r in got} == {row["body"].encode()}
    assert [r.headers["cashcc-attempt"] for r in got] == ["1", "2", "3"]
    assert got[0].json["id"] == str(row["_id"])
    assert got[0].json["type"] == "FIRING"
    assert 24 <= first_wait <= 36
    assert 48 <= second_wait <= 72
    [row] = await stored_deliveries(tenant)
    assert (row["status"], row["attempts"], row["last_response_status"]) == ("DELIVERED", 3, 200)


def test_the_retry_schedule_backs_off_exponentially_with_jitter_for_24_hours() -> None:
    assert [nominal_delay(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    rng = random.Random(7)
    waits = [retry_delay(3, rng=rng).total_seconds() for _ in range(200)]
    assert all(96 <= w <= 144 for w in waits)
    assert len(set(waits)) > 150
    created = ManualClock().now
    day = timedelta(hours=24)
    assert next_attempt(
        failed_attempts=30, created_at=created, now=created + day - timedelta(seconds=1), rng=rng
    )
    assert next_attempt(failed_attempts=30, created_at=created, now=created + day, rng=rng) is None
    assert not disable_due(None, created + day)
    assert not disable_due(created, created + day - timedelta(seconds=1))
    assert disable_due(created, created + day)


async def test_24_hours_of_failures_disable_the_webhook_and_raise_the_alert_once(
    factory: Factory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the alerts engine's hook, which fails the first time (the worker "dies" between
    # disabling the webhook and raising the alert), and a receiver that is down
    told: list[dict[str, Any]] = []

    async def webhook_disabled(**details: Any) -> None:
        told.append(details)
        if len(told) == 1:
            raise RuntimeError("worker died before the alert was raised")

    monkeypatch.setattr(delivery_module, "webhook_disabled", webhook_disabled)
    test_settings = private_settings(settings)
    clock = ManualClock()
    started = clock()
    with receiver(lambda index, request: (500, b"down", {})) as hook:
        tenant = await factory.tenant(shops=0)
        issued = await register(tenant, hook.url(), settings=test_settings)
        scope = Scope.organization(tenant.org.id)

        async def run() -> None:
            await deliver_due(settings=test_settings, clock=clock, org_id=tenant.org.id)

        await enqueue(tenant, now=clock())
        await run()
        clock.advance(hours=23)
        await enqueue(tenant, now=clock())
        await run()
        still = await get_webhook(scope=scope, webhook_id=issued.webhook.id)
        assert still is not None
        assert still.enabled
        assert still.failing_since == started

        # when failures have lasted 24 h
        clock.advance(hours=1, seconds=1)
        await run()
        disabled = await get_webhook(scope=scope, webhook_id=issued.webhook.id)
        await run()  # the alert's lease is live: nobody tells again yet
        clock.advance(seconds=test_settings.webhook_lease_seconds + 1)
        await run()  # the lease lapsed: the next pass raises the alert
        clock.advance(hours=1)
        await run()

        # then the webhook is disabled, its rows failed, no new rows, the alert raised once
        assert disabled is not None
        assert not disabled.enabled
        assert disabled.disabled_reason == "failing for 24 h"
        assert {r["status"] for r in await stored_deliveries(tenant)} == {"FAILED"}
        assert await enqueue(tenant, now=clock()) == 0
        assert len(told) == 2
        assert told[1]["webhook_id"] == issued.webhook.id
        assert told[1]["failing_since"] == started
        logged = await SecurityEvent.find(
            {"org_id": tenant.org.id, "action": "WEBHOOK_DISABLED"}
        ).to_list()
        assert len(logged) == 1
        after = await get_webhook(scope=scope, webhook_id=issued.webhook.id)
        assert after is not None
        assert after.disable_alert_due_at is None

        # and a successful test, once the receiver works, enables it again
        hook.answer = lambda index, request: OK
        test = await send_test_delivery(
            principal=principal_for_user(tenant.admin),
            webhook_id=str(issued.webhook.id),
            settings=test_settings,
        )
    assert test["status"] == "DELIVERED"
    enabled = await get_webhook(scope=scope, webhook_id=issued.webhook.id)
    assert enabled is not None
    assert enabled.enabled
    assert enabled.failing_since is None


async def test_the_documented_snippet_verifies_a_real_delivery_and_rejects_tampering(
    factory: Factory, settings: Settings
) -> None:
    verify = documented_verify()
    test_settings = private_settings(settings)
    with receiver() as hook:
        tenant = await factory.tenant(shops=0)
        issued = await register(tenant, hook.url(), settings=test_settings)
        await enqueue(tenant, payload={"id": "inc-1", "rule": "NOTE_JAM", "state": "FIRING"})
        await deliver_due(settings=test_settings, org_id=tenant.org.id)
    [got] = hook.received
    header = got.headers["cashcc-signature"]
    at = signed_at(header)

    assert verify(issued.secret, header, got.body)
    assert got.json["incident"] == {"id": "inc-1", "rule": "NOTE_JAM", "state": "FIRING"}
    assert not verify(issued.secret, header, got.body.replace(b"NOTE_JAM", b"NOTE_JAN"))
    assert not verify(issued.secret, header, got.body + b" ")
    assert not verify("whsec_" + "A" * 43, header, got.body)
    assert not verify(issued.secret, header.replace(f"t={at}", f"t={at + 1}"), got.body)
    assert verify(issued.secret, header, got.body, now=at + 299)
    assert not verify(issued.secret, header, got.body, now=at + 301)
    assert not verify(issued.secret, header.split(",", 1)[1], got.body)


async def test_redirects_are_not_followed_and_answers_are_capped(
    factory: Factory, settings: Settings
) -> None:
    test_settings = private_settings(settings)
    with receiver() as elsewhere:
        moved = (302, b"x" * 1_000_000, {"Location": elsewhere.url()})
        with receiver(lambda index, request: moved) as hook:
            tenant = await factory.tenant(shops=0)
            await register(tenant, hook.url(), settings=test_settings)
            await enqueue(tenant)
            await deliver_due(settings=test_settings, org_id=tenant.org.id)
    [row] = await stored_deliveries(tenant)
    assert elsewhere.count() == 0
    assert (row["status"], row["last_response_status"]) == ("PENDING", 302)
    assert row["last_error"].startswith("HTTP 302 (redirects are not followed): xxx")
    assert len(row["last_error"]) <= 300


async def test_a_receiver_that_never_answers_times_out_and_is_retried(
    factory: Factory, settings: Settings
) -> None:
    test_settings = private_settings(settings, webhook_timeout_seconds=0.3)
    clock = ManualClock()
    with receiver(lambda index, request: None) as hook:
        tenant = await factory.tenant(shops=0)
        await register(tenant, hook.url(), settings=test_settings)
        await enqueue(tenant, now=clock())
        await deliver_due(settings=test_settings, clock=clock, org_id=tenant.org.id)
    [row] = await stored_deliveries(tenant)
    assert hook.count() == 1
    assert (row["status"], row["last_error"]) == ("PENDING", "no answer within 0.3 s")
    assert row["next_attempt_at"] > clock()


async def test_connects_to_the_checked_address_and_verifies_tls_for_the_name(
    factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    # given a TLS receiver whose certificate names hooks.invalid (a name no DNS resolves, so
    # only our own resolution can lead a request to it)
    server_tls, client_tls = tls_pair(tmp_path, ("hooks.invalid",))
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    transport = Transport(resolver=resolve, ssl_context=client_tls)
    test_settings = private_settings(settings)
    with receiver(ssl_context=server_tls) as hook:
        tenant = await factory.tenant(shops=0)
        issued = await register(tenant, hook.url(host="localhost"), settings=test_settings)
        scope = Scope.organization(tenant.org.id)

        async def send_to(host: str) -> dict[str, Any]:
            url = hook.url(host=host)
            await update_webhook(scope=scope, webhook_id=issued.webhook.id, changes={"url": url})
            await enqueue(tenant)
            await deliver_due(settings=test_settings, org_id=tenant.org.id, transport=transport)
            return (await stored_deliveries(tenant))[-1]

        # when it is sent to the name, and then to a name the certificate does not hold
        good = await send_to("hooks.invalid")
        bad = await send_to("other.invalid")

    # then the request went to the checked address with the name in SNI and Host, and a
    # certificate for another name is refused
    assert good["status"] == "DELIVERED"
    assert lookups == ["hooks.invalid", "other.invalid"]
    assert hook.server_names[0] == "hooks.invalid"
    assert hook.received[0].headers["host"] == f"hooks.invalid:{hook.port}"
    assert hook.count() == 1
    assert bad["status"] == "PENDING"
    assert "CERTIFICATE_VERIFY_FAILED" in bad["last_error"]


async def test_a_name_that_turns_private_is_refused_at_send_time_in_production(
    factory: Factory, settings: Settings
) -> None:
    # given a webhook whose name resolves to a loopback address at delivery time
    production = production_settings(settings)
    with receiver() as hook:
        tenant = await factory.tenant(shops=0)
        issued = await register(tenant, hook.url(), settings=private_settings(settings))
        url = f"https://hooks.invalid:{hook.port}/hook"
        scope = Scope.organization(tenant.org.id)
        await update_webhook(scope=scope, webhook_id=issued.webhook.id, changes={"url": url})
        await enqueue(tenant)
        # when the production worker sends it
        await deliver_due(
            settings=production,
            org_id=tenant.org.id,
            transport=Transport(resolver=loopback(["127.0.0.1"])),
        )
    # then nothing connected and the attempt says why
    [row] = await stored_deliveries(tenant)
    assert hook.count() == 0
    assert row["status"] == "PENDING"
    assert row["last_error"] == (
        "URL refused: hooks.invalid resolves to 127.0.0.1, which is a loopback address"
    )


@pytest.mark.parametrize(
    ("url", "addresses", "problem"),
    [
        ("https://hooks.invalid/x", [PUBLIC, "10.0.0.7"], "10.0.0.7, which is a private"),
        ("https://hooks.invalid/x", ["fe80::1"], "fe80::1, which is a link-local"),
        ("https://127.0.0.1/x", [], "127.0.0.1 is a loopback"),
        ("https://[::1]/x", [], "::1 is a loopback"),
        ("https://169.254.169.254/latest/meta-data", [], "169.254.169.254 is a link-local"),
        ("https://[::ffff:10.0.0.1]/x", [], "::ffff:10.0.0.1 is a private"),
        ("https://[64:ff9b::a9fe:a9fe]/x", [], "64:ff9b::a9fe:a9fe is a link-local"),
        ("https://0.0.0.0/x", [], "0.0.0.0 is an unspecified"),
        ("https://224.0.0.1/x", [], "224.0.0.1 is a multicast"),
        (f"http://{PUBLIC}/x", [], "must use https"),
    ],
)
async def test_every_resolved_address_is_checked_in_production(
    url: str, addresses: list[str], problem: str
) -> None:
    policy = UrlPolicy(require_https=True, allow_private=False)
    with pytest.raises(UrlRefused) as refused:
        await resolve_target(url, policy, resolver=loopback(addresses))
    assert refused.value.policy
    assert problem in refused.value.reason
    target = await resolve_target("https://hooks.invalid/x", policy, resolver=loopback([PUBLIC]))
    assert (target.address, target.host_header) == (PUBLIC, "hooks.invalid")


def test_a_delivery_body_is_canonical_json() -> None:
    delivery_id = ObjectId()
    body = delivery_body(
        delivery_id=delivery_id,
        event=WebhookEvent.RESOLVED,
        created_at=ManualClock().now,
        incident={"z": 1, "a": ObjectId("0123456789abcdef01234567")},
    )
    assert json.loads(body)["incident"] == {"a": "0123456789abcdef01234567", "z": 1}
    assert body.startswith('{"createdAt":"')
    assert body.index('"id"') < body.index('"type"')
