"""The production nginx config, run as it is in front of `cashcc serve` with two workers:
TLS, HTTP/2, security headers, WebSocket upgrade, edge rate limits that answer 429 in JSON,
and bad input that stays harmless."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from config import Settings
from tests.factories import INGEST, Factory, ingest_variables, tx
from tests.live_support import LiveClient, RedisServer, clients
from tests.serve_support import served
from tests.tls_support import nginx, nginx_binary, render

LOGIN = 'mutation { login(email: "x@example.com", password: "y") { userErrors { code } } }'
# Small edge limits so the test reaches them: 5 at once, then about none per minute.
RATES = {
    "zone=login:10m rate=30r/m": "zone=login:10m rate=1r/m",
    "zone=login burst=20 nodelay": "zone=login burst=4 nodelay",
    "zone=ingest burst=120 nodelay": "zone=ingest burst=4 nodelay",
    "zone=ingest:20m rate=20r/s": "zone=ingest:20m rate=1r/m",
}


def test_config_is_valid(tmp_path: Path) -> None:
    render(tmp_path, upstream_port=8000)
    done = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", "cashcc.conf"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory, settings: Settings, database):
    """nginx and `cashcc serve` for the whole module (the tests that exhaust the edge limits
    run last)."""
    tmp_path = tmp_path_factory.mktemp("edge")
    redis = RedisServer()
    redis.start()
    try:
        with served(
            tmp_path / "api",
            mongodb_uri=settings.mongodb_uri or "",
            mongodb_db=settings.mongodb_db,
            broadcast_url=redis.url,
            forwarded_allow_ips="127.0.0.1",  # as docs/deploy.md says for nginx on the host
        ) as api:
            proxy = render(tmp_path, upstream_port=api.port, rates=RATES)
            with nginx(tmp_path, proxy):
                yield proxy
    finally:
        redis.stop()


async def test_query_ingest_and_subscription_over_tls(edge, factory: Factory) -> None:
    tenant = await factory.tenant()
    verify = edge.ssl_context()
    async with httpx.AsyncClient(base_url=edge.url, verify=verify, timeout=20) as http:
        login = await http.post("/graphql", json={"query": LOGIN})
        assert login.json()["data"]["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
        assert login.headers["strict-transport-security"].startswith("max-age=")
        assert login.headers["x-content-type-options"] == "nosniff"
        assert login.headers["x-frame-options"] == "DENY"
        assert "server" not in login.headers or "nginx/" not in login.headers["server"]

        live = await LiveClient.open(
            f"wss://127.0.0.1:{edge.https_port}/graphql",
            {"authorization": f"Bearer {tenant.admin_token}"},
            ssl=verify,
        )
        async with clients(live):
            await live.subscribe("subscription { transactionsIngested { machineId } }")
            await asyncio.sleep(0.5)  # the SUBSCRIBE reaches Redis before the publish
            variables = ingest_variables(tenant.machine_id, [tx(1), tx(2)], idempotency_key="tls-1")
            ingest = await http.post(
                "/graphql",
                json={"query": INGEST, "variables": variables},
                headers={"X-API-Key": tenant.api_key},
            )
            assert ingest.json()["data"]["ingestTransactions"]["accepted"] == 2
            event = await live.next_data(timeout=10)
            assert event["transactionsIngested"]["machineId"] == tenant.machine_id

        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


def test_tls_1_2_clients_connect_and_http2_is_offered(edge) -> None:
    old_client = edge.ssl_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    old_client.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", edge.https_port), timeout=5) as raw,
        old_client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        assert tls.selected_alpn_protocol() == "h2"
    redirect = httpx.get(f"http://127.0.0.1:{edge.http_port}/graphql", timeout=5)
    assert redirect.status_code == 308
    assert redirect.headers["location"].startswith("https://")


async def test_bad_input_at_the_edge_stays_harmless(edge) -> None:
    async with httpx.AsyncClient(base_url=edge.url, verify=edge.ssl_context(), timeout=20) as http:
        odd_id = await http.get("/healthz", headers={"X-Request-Id": "x" * 300 + "<script>"})
        assert odd_id.status_code == 200
        assert re.fullmatch("[0-9a-f]{32}", odd_id.headers["x-request-id"])  # nginx's own id

        huge = await http.get("/healthz", headers={"X-Big": "y" * 40_000})
        assert huge.status_code == 400
        assert huge.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert "nginx" not in huge.text

        too_big = await http.post("/graphql", content=b"{" + b" " * 5_000_000 + b"}",
                                  headers={"Content-Type": "application/json"})  # fmt: skip
        assert too_big.status_code == 413
        assert too_big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        assert (await http.get("/metrics")).status_code == 404
        preflight = await http.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 400
        assert not [h for h in preflight.headers if h.startswith("access-control-")]


async def test_edge_limits_answer_429_in_json_per_address_and_per_key(
    edge, factory: Factory
) -> None:
    tenant = await factory.tenant()
    other_key = await factory.api_key(tenant)
    async with httpx.AsyncClient(base_url=edge.url, verify=edge.ssl_context(), timeout=20) as http:
        logins = [await http.post("/graphql", json={"query": LOGIN}) for _ in range(8)]
        refused = [r for r in logins if r.status_code == 429]
        assert refused, [r.status_code for r in logins]
        body = refused[0].json()
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert refused[0].headers["retry-after"] == "1"

        probe = {"query": "{ __typename }"}
        keyed = [
            await http.post("/graphql", json=probe, headers={"X-API-Key": tenant.api_key})
            for _ in range(8)
        ]
        assert 429 in [r.status_code for r in keyed]
        # Another key, and a logged-in user, from the same address are not throttled.
        fresh = await http.post("/graphql", json=probe, headers={"X-API-Key": other_key})
        assert fresh.status_code == 200
        user = await http.post(
            "/graphql", json=probe, headers={"Authorization": f"Bearer {tenant.admin_token}"}
        )
        assert user.status_code == 200
