"""Managing webhooks through GraphQL: the secret shown once and sealed at rest, updates and
routing by events and shops, rotation with an overlap, test deliveries and their history,
who may do what, and the URL policy of production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pydantic import ValidationError

from config import Settings
from graph.schema import build_schema
from models.identity import Role
from models.webhooks import Webhook, WebhookEvent
from resolvers.webhooks.worker import deliver_due
from tests.factories import Factory, Tenant, gql, gql_data
from tests.identity_helpers import app_client, production_settings
from tests.webhook_support import (
    OK,
    ManualClock,
    documented_verify,
    enqueue,
    private_settings,
    receiver,
)

CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    secret webhook { id url events shopIds enabled }
    userErrors { field code message }
  }
}
"""
UPDATE = """
mutation($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) {
    webhook { id url events shopIds }
    userErrors { field code message }
  }
}
"""
ROTATE = """
mutation($id: ID!, $overlap: Int!) {
  rotateWebhookSecret(id: $id, overlapSeconds: $overlap) {
    secret webhook { previousSecretValidUntil secretRotatedAt }
    userErrors { field code message }
  }
}
"""
TEST = """
mutation($id: ID!) {
  testWebhook(id: $id) {
    delivery { id event status attempts lastResponseStatus lastError nextAttemptAt }
    userErrors { field code }
  }
}
"""
DELIVERIES = """
query($id: ID!, $after: String) {
  webhookDeliveries(webhookId: $id, first: 1, after: $after) {
    edges { cursor node { id event status } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture(scope="module")
async def api(settings: Settings, database: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The API with loopback receivers allowed (WEBHOOK_ALLOW_PRIVATE=true)."""
    async with app_client(private_settings(settings)) as http:
        yield http


async def create(
    http: httpx.AsyncClient, tenant: Tenant, url: str, **fields: Any
) -> dict[str, Any]:
    variables = {"input": {"url": url, "events": ["FIRING"], **fields}}
    data = await gql_data(http, CREATE, variables, token=tenant.admin_token)
    return data["createWebhook"]


async def test_create_returns_the_secret_once_and_stores_it_sealed(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant(shops=0)
    # when an admin creates a webhook, and when one asks for too little or a wrong URL
    created = await create(api, tenant, "http://127.0.0.1:9/hook", events=["FIRING", "RESOLVED"])
    refused = await create(api, tenant, "ftp://hooks.example/x", events=[])
    every_field = " ".join(
        build_schema(Settings(app_env="test"))._schema.type_map["Webhook"].fields
    )
    listed = await gql(api, f"{{ webhooks {{ {every_field} }} }}", token=tenant.admin_token)

    # then the secret is in the answer only: no field shows it, the record holds it sealed
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) == 49
    assert created["webhook"]["events"] == ["FIRING", "RESOLVED"]
    assert [w["id"] for w in listed["data"]["webhooks"]] == [created["webhook"]["id"]]
    assert secret[6:] not in repr(listed)
    stored = await Webhook.get_pymongo_collection().find_one({"org_id": tenant.org.id})
    assert secret[6:] not in repr(stored)
    # and each bad field is named with its reason
    assert {(e["field"], e["code"]) for e in refused["userErrors"]} == {
        ("input.url", "INVALID"),
        ("input.events", "INVALID"),
    }


async def test_update_changes_what_is_given_and_routes_by_events_and_shops(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    # given a webhook of org A on FIRING in every shop, and one of org B on everything
    tenant = await factory.tenant(shops=2, machines_per_shop=0)
    other = await factory.tenant(shops=1, machines_per_shop=0)
    created = await create(api, tenant, "http://127.0.0.1:9/hook")
    await create(api, other, "http://127.0.0.1:9/b", events=["FIRING", "RESOLVED"])
    s0, s1 = (shop.id for shop in tenant.shops)
    webhook_id = created["webhook"]["id"]

    # when it is moved to RESOLVED in shop S0 only
    changed = await gql_data(
        api,
        UPDATE,
        {"input": {"id": webhook_id, "events": ["RESOLVED"], "shopIds": [str(s0)]}},
        token=tenant.admin_token,
    )
    bad = await gql_data(
        api,
        UPDATE,
        {"input": {"id": webhook_id, "shopIds": [str(other.shops[0].id)], "url": " "}},
        token=tenant.admin_token,
    )

    # then only a RESOLVED of S0 is enqueued for it (once per transition), none for org B
    assert changed["updateWebhook"]["webhook"]["events"] == ["RESOLVED"]
    assert changed["updateWebhook"]["webhook"]["url"] == "http://127.0.0.1:9/hook"
    assert {e["field"] for e in bad["updateWebhook"]["userErrors"]} == {
        "input.shopIds",
        "input.url",
    }
    resolved = WebhookEvent.RESOLVED
    assert await enqueue(tenant, event=WebhookEvent.FIRING, shop_id=s0) == 0
    assert await enqueue(tenant, event=resolved, shop_id=s1) == 0
    assert await enqueue(tenant, event=resolved, shop_id=None) == 0
    incident = await enqueue_twice(tenant, event=resolved, shop_id=s0)
    assert incident == (1, 0)
    # and with the shop filter removed it covers organization-level incidents too
    await gql_data(
        api, UPDATE, {"input": {"id": webhook_id, "shopIds": None}}, token=tenant.admin_token
    )
    assert await enqueue(tenant, event=resolved, shop_id=None) == 1


async def enqueue_twice(tenant: Tenant, **fields: Any) -> tuple[int, int]:
    """Enqueue one transition twice (a retried transaction, a second evaluator)."""
    incident = ObjectId()
    first = await enqueue(tenant, incident_id=incident, transition=3, **fields)
    return first, await enqueue(tenant, incident_id=incident, transition=3, **fields)


async def test_rotation_signs_with_both_secrets_during_the_overlap_only(
    api: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    verify = documented_verify()
    test_settings = private_settings(settings)
    clock = ManualClock()
    with receiver() as hook:
        tenant = await factory.tenant(shops=0)
        created = await create(api, tenant, hook.url())
        webhook_id, old = created["webhook"]["id"], created["secret"]

        async def rotate(overlap: int) -> dict[str, Any]:
            variables = {"id": webhook_id, "overlap": overlap}
            data = await gql_data(api, ROTATE, variables, token=tenant.admin_token)
            return data["rotateWebhookSecret"]

        async def deliver() -> tuple[str, bytes, int]:
            await enqueue(tenant, now=clock())
            await deliver_due(settings=test_settings, clock=clock, org_id=tenant.org.id)
            got = hook.received[-1]
            header = got.headers["cashcc-signature"]
            return header, got.body, int(header.split(",")[0][2:])

        # when the secret is rotated with a one-hour overlap
        rotated = await rotate(3600)
        new = rotated["secret"]
        during = await deliver()
        until = datetime.fromisoformat(rotated["webhook"]["previousSecretValidUntil"])
        clock.now = until + timedelta(seconds=1)
        after = await deliver()
        # and rotated again without overlap
        newest = (await rotate(0))["secret"]
        clock.now = ManualClock().now
        immediate = await deliver()
        out_of_range = await rotate(-1)

    # then both secrets verify during the overlap, only the new one after it
    assert new != old
    assert rotated["webhook"]["previousSecretValidUntil"] is not None
    header, body, at = during
    assert header.count("v1=") == 2
    assert verify(new, header, body, now=at)
    assert verify(old, header, body, now=at)
    header, body, at = after
    assert verify(new, header, body, now=at)
    assert not verify(old, header, body, now=at)
    header, body, at = immediate
    assert verify(newest, header, body, now=at)
    assert not verify(new, header, body, now=at)
    assert out_of_range["userErrors"][0]["field"] == "overlapSeconds"


async def test_test_webhook_reports_the_outcome_and_deliveries_page_newest_first(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    with receiver(lambda index, request: (500, b"not yet", {}) if index == 0 else OK) as hook:
        tenant = await factory.tenant(shops=0)
        webhook_id = (await create(api, tenant, hook.url()))["webhook"]["id"]
        # when the admin tests a receiver that fails, then one that works
        failed = await gql_data(api, TEST, {"id": webhook_id}, token=tenant.admin_token)
        worked = await gql_data(api, TEST, {"id": webhook_id}, token=tenant.admin_token)
        first = await gql_data(api, DELIVERIES, {"id": webhook_id}, token=tenant.admin_token)
        cursor = first["webhookDeliveries"]["pageInfo"]["endCursor"]
        second = await gql_data(
            api, DELIVERIES, {"id": webhook_id, "after": cursor}, token=tenant.admin_token
        )

    # then each answer says what happened, and the history pages newest first
    failure = failed["testWebhook"]["delivery"]
    assert failure["status"] == "PENDING"
    assert failure["lastResponseStatus"] == 500
    assert failure["lastError"] == "HTTP 500: not yet"
    assert failure["nextAttemptAt"]
    success = worked["testWebhook"]["delivery"]
    assert (success["status"], success["event"], success["nextAttemptAt"]) == (
        "DELIVERED",
        "TEST",
        None,
    )
    assert hook.received[1].json["incident"]["test"] is True
    assert [e["node"]["id"] for e in first["webhookDeliveries"]["edges"]] == [success["id"]]
    assert first["webhookDeliveries"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in second["webhookDeliveries"]["edges"]] == [failure["id"]]
    assert second["webhookDeliveries"]["pageInfo"]["hasNextPage"] is False


async def test_other_roles_keys_and_tenants_cannot_reach_a_webhook(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    with receiver() as hook:
        tenant = await factory.tenant()
        other = await factory.tenant(shops=0)
        webhook_id = (await create(api, tenant, hook.url()))["webhook"]["id"]
        _, manager = await factory.user(tenant, Role.SHOP_MANAGER, [0])
        variables = {"input": {"url": hook.url(), "events": ["FIRING"]}}
        # when a manager creates, a key lists, and another organization's admin tests,
        # changes and deletes the webhook
        by_manager = await gql(api, CREATE, variables, token=manager)
        by_key = await gql(api, "{ webhooks { id } }", api_key=tenant.api_key)
        foreign = {"id": webhook_id}
        test = await gql_data(api, TEST, foreign, token=other.admin_token)
        delete = await gql_data(
            api,
            "mutation($id: ID!) { deleteWebhook(id: $id) { userErrors { code } } }",
            foreign,
            token=other.admin_token,
        )
        history = await gql(api, DELIVERIES, foreign, token=other.admin_token)
        listed = await gql_data(api, "{ webhooks { id } }", token=other.admin_token)

    # then the roles are refused, the other tenant sees "not found", nothing was sent
    assert by_manager["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_key["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert test["testWebhook"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert delete["deleteWebhook"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert history["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert listed["webhooks"] == []
    assert hook.count() == 0
    mine = await gql_data(api, "{ webhooks { id } }", token=tenant.admin_token)
    assert mine["webhooks"] == [{"id": webhook_id}]


@pytest.fixture
def production(settings: Settings) -> Settings:
    return production_settings(settings)


async def test_production_refuses_private_loopback_link_local_and_plain_http_urls(
    factory: Factory, settings: Settings, production: Settings
) -> None:
    tenant = await factory.tenant(shops=0)
    token = await factory.token_for(tenant.admin, settings=production)
    refused = [
        "http://93.184.215.14/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:172.16.0.1]/hook",
        "https://[fd00::1]/hook",
    ]
    async with app_client(production) as http:
        answers = [
            (await gql_data(http, CREATE, {"input": {"url": u, "events": ["FIRING"]}}, token=token))
            for u in refused
        ]
        public = await gql_data(
            http,
            CREATE,
            {"input": {"url": "https://93.184.215.14/hook", "events": ["FIRING"]}},
            token=token,
        )
    codes = [(a["createWebhook"]["userErrors"] or [{}])[0].get("code") for a in answers]
    assert codes == ["URL_NOT_ALLOWED"] * len(refused)
    assert all(a["createWebhook"]["webhook"] is None for a in answers)
    assert public["createWebhook"]["webhook"] is not None
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_PRIVATE must be false"):
        production_settings(settings, webhook_allow_private=True)
