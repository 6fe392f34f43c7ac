"""Malformed graphql-transport-ws traffic is answered with a documented close code (4400 for
protocol errors) or an error carrying `extensions.code`, never a dropped connection (1006)."""

from __future__ import annotations

import json

import pytest

from tests.factories import Factory
from tests.live_support import LiveClient
from tests.servers import ApiServer


@pytest.fixture
def server(fuzz_server: ApiServer) -> ApiServer:
    """The suite's shared API process with the default test settings."""
    return fuzz_server


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("[1, 2]", "must be a JSON object"),
        ("42", "must be a JSON object"),
        ('{"type": 7}', "string `type`"),
        ('{"type": "subscribe", "id": 1, "payload": {"query": "{ me { id } }"}}', "string `id`"),
        ('{"type": "subscribe", "id": "a", "payload": []}', "string `query`"),
        ('{"type": "subscribe", "id": "a", "payload": {"query": 5}}', "string `query`"),
        (
            '{"type": "subscribe", "id": "a", "payload": {"query": "{ me { id } }", '
            '"variables": [1]}}',
            "`variables` must be an object",
        ),
        ('{"type": "subscribe-all"}', "Unknown message type"),
        ("not json", "valid JSON"),
    ],
)
async def test_malformed_frames_close_with_4400_and_a_reason(
    server: ApiServer, factory: Factory, frame: str, reason: str
) -> None:
    tenant = await factory.tenant(shops=0)
    client = await LiveClient.open(server.ws_url, {"authorization": f"Bearer {tenant.admin_token}"})
    await client.ws.send(frame)
    code, text = await client.close_code()
    assert code == 4400
    assert reason in (text or "")


async def test_a_subscribe_over_the_token_limit_gets_an_error_with_a_code(
    server: ApiServer, factory: Factory
) -> None:
    """A 1.2 MB subscribe once got a bare `complete`: now an `error` naming the limit."""
    tenant = await factory.tenant(shops=0)
    client = await LiveClient.open(server.ws_url, {"authorization": f"Bearer {tenant.admin_token}"})
    huge = "subscription { inventoryChanged { " + " ".join(["eventId"] * 150_000) + " } }"
    try:
        await client.ws.send(
            json.dumps({"id": "big", "type": "subscribe", "payload": {"query": huge}})
        )
        message = await client.receive(timeout=30)
    finally:
        await client.close()
    assert (message["id"], message["type"]) == ("big", "error")
    error = message["payload"][0]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "tokens" in error["message"]


async def test_a_document_over_a_limit_gets_an_error_with_a_code(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant(shops=0)
    client = await LiveClient.open(server.ws_url, {"authorization": f"Bearer {tenant.admin_token}"})
    try:
        op = await client.subscribe("{ " + " ".join(["shops { id }"] * 30) + " }")
        message = await client.receive(timeout=30)
    finally:
        await client.close()
    assert message["id"] == op
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
