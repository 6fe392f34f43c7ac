"""GraphQL hardening: cost limit, batching cap, body size limit, per-operation timeout and
production-mode error masking."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

import graph.identity.queries
from config import Settings
from models.db import Database
from tests.audit_support import PRODUCTION_AUDIT
from tests.factories import Factory, gql
from tests.identity_helpers import app_client, production_settings
from tests.servers import eventually

FAN_OUT = "{ shops { machines { shop { machines { shop { machines { id } } } } } } }"


async def test_expensive_query_is_refused_before_any_resolver_runs(factory: Factory) -> None:
    tenant = await factory.tenant()
    body = await gql(factory.client, FAN_OUT, token=tenant.admin_token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    ok = await gql(
        factory.client,
        "{ transactions(first: 100) { edges { node { id lines { count } } } } }",
        token=tenant.admin_token,
    )
    assert "errors" not in ok


async def test_page_size_from_a_variable_counts_toward_the_cost(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    query = "query($n: Int!) { transactions(first: $n) { edges { node { lines { count } } } } }"
    tight = settings.model_copy(update={"max_query_cost": 500})
    async with app_client(tight) as http:
        small = await gql(http, query, {"n": 10}, token=tenant.admin_token)
        large = await gql(http, query, {"n": 100}, token=tenant.admin_token)
    assert "errors" not in small
    assert large["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"


async def test_batches_are_answered_in_order_and_capped(factory: Factory) -> None:
    tenant = await factory.tenant()
    headers = {"Authorization": f"Bearer {tenant.admin_token}"}
    batch = [{"query": "{ me { id } }"}, {"query": "{ organization { id } }"}]
    response = await factory.client.post("/graphql", json=batch, headers=headers)
    assert response.status_code == 200
    results = response.json()
    assert results[0]["data"]["me"]["id"] == str(tenant.admin.id)
    assert results[1]["data"]["organization"]["id"] == str(tenant.org.id)
    too_many = [{"query": "{ me { id } }"}] * (factory.settings.max_batch_operations + 1)
    response = await factory.client.post("/graphql", json=too_many, headers=headers)
    assert response.status_code == 400


async def test_oversized_bodies_are_refused_declared_or_streamed(settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    padding = "#" + "x" * 4096 + "\n{ __typename }"
    async with app_client(small) as http:
        declared = await http.post("/graphql", json={"query": padding})
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"query": "#'
            for _ in range(10):
                yield b"x" * 1024
            yield b'\\n{ __typename }"}'

        streamed = await http.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        fine = await http.post("/graphql", json={"query": "{ __typename }"})
        assert fine.status_code == 200


@pytest.fixture
async def slow_find(database: Database) -> AsyncIterator[None]:
    """Every `find` on the database blocks for a second (a real server-side stall) until the
    test ends. Not just the next one: a background reader (this process's session reaper)
    could take it before the request under test."""
    admin = database.client.admin
    await admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": ["find"], "blockConnection": True, "blockTimeMS": 1000},
        }
    )
    try:
        yield
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})


async def test_operation_over_the_timeout_gets_a_retryable_timeout_error(
    settings: Settings, slow_find: None
) -> None:
    quick = settings.model_copy(update={"operation_timeout_seconds": 0.2})
    async with app_client(quick) as http:
        body = await gql(
            http,
            'mutation { login(email: "slow@example.com", password: "x") { accessToken } }',
        )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["extensions"]["retryable"] is True


@pytest.fixture
def production(settings: Settings) -> Settings:
    return production_settings(settings)


async def test_production_masks_internal_errors_with_a_code_and_request_id(
    factory: Factory, production: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await factory.tenant(shops=0)
    token = await factory.token_for(tenant.admin, settings=production)

    async def broken(**_: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(graph.identity.queries, "find_users", broken)
    async with app_client(production) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ users { id } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-123"},
        )
        body = response.json()
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        assert body["errors"][0]["extensions"] == {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": "req-123",
        }
        assert response.headers["x-request-id"] == "req-123"

        introspection = await gql(http, "{ __schema { types { name } } }", token=token)
        assert introspection["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        typo = await gql(http, "{ user { id } }", token=token)
        assert "Did you mean" not in typo["errors"][0]["message"]
        ide = await http.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code != 200 or "graphiql" not in ide.text.lower()


async def test_a_hostile_request_id_is_replaced(factory: Factory) -> None:
    hostile = "x" * 65 + str(uuid.uuid4())
    response = await factory.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": hostile}
    )
    assert response.headers["x-request-id"] != hostile


def test_production_refuses_a_weak_or_inconsistent_key_ring() -> None:
    base = {
        "app_env": "production",
        "mongodb_uri": "mongodb://db.example:27017",
        "api_key_pepper": "q" * 48,
        "webhook_secret_key": "w" * 48,
        **PRODUCTION_AUDIT,
    }
    strong = "s" * 48
    Settings(**base, jwt_keys={"k2": strong, "k1": "t" * 48}, jwt_active_kid="k2")
    for bad, reason in (
        ({"jwt_keys": {"k1": "short"}, "jwt_active_kid": "k1"}, "JWT_KEYS"),
        ({"jwt_keys": {"k1": strong}, "jwt_active_kid": "k9"}, "JWT_ACTIVE_KID"),
        ({"jwt_keys": {"k1": strong}, "api_key_previous_peppers": ["short"]}, "PEPPERS"),
    ):
        with pytest.raises(ValueError, match=reason):
            Settings(**base, **bad)


async def test_a_worker_at_capacity_answers_busy_and_retryable_without_running_the_request(
    settings: Settings, slow_find: None
) -> None:
    """Requests beyond MAX_CONCURRENT_REQUESTS wait REQUEST_QUEUE_SECONDS for a slot, then
    get 503 BUSY with Retry-After: they never queue inside the driver's connection pool."""
    from graph.app import GraphQLApp, create_app

    tight = settings.model_copy(update={"max_concurrent_requests": 1, "request_queue_seconds": 0.2})
    app = create_app(tight, manage_database=False)
    graphql = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), GraphQLApp))
    login = 'mutation { login(email: "busy@example.com", password: "x") { accessToken } }'
    transport = httpx.ASGITransport(app=app)

    async def slot_taken() -> bool:
        return graphql.slots.locked()

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        first = asyncio.create_task(http.post("/graphql", json={"query": login}))
        await eventually(slot_taken, timeout=10, what="the first request to take the only slot")
        refused = await http.post("/graphql", json={"query": "{ __typename }"})
        assert (await first).status_code == 200
        after = await http.post("/graphql", json={"query": "{ __typename }"})

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["retryable"]) == ("BUSY", True)
    assert after.json() == {"data": {"__typename": "Query"}}


async def test_a_database_out_of_reach_while_reading_the_caller_is_a_retryable_503(
    factory: Factory, database: Database
) -> None:
    """Authentication reads the key before any operation runs: a database error there is
    UNAVAILABLE with Retry-After, never a 500 with a traceback."""
    tenant = await factory.tenant()
    admin = database.client.admin
    await admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": ["find"], "errorCode": 50},  # MaxTimeMSExpired
        }
    )
    try:
        answer = await factory.client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"X-API-Key": tenant.machine_keys[0]},
        )
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    error = answer.json()["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["retryable"]) == ("UNAVAILABLE", True)
    assert "Traceback" not in answer.text
