"""What a newcomer and a browser frontend meet first: CORS, the landing page, readiness, and
start-up configuration errors."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import uuid

import httpx
import pytest
from pymongo import MongoClient

from config import Settings
from graph.app import create_app
from models.db import migrate_database
from tests.identity_helpers import production_settings
from tests.live_support import RedisServer
from tests.servers import REPO, ApiServer, running, server_env, wait_until

FRONTEND = "https://dashboard.example"
QUERY = {"query": "{ __typename }"}


@pytest.fixture
async def cors_client(settings: Settings, database) -> httpx.AsyncClient:
    app = create_app(
        settings.model_copy(update={"cors_allow_origins": f"{FRONTEND}, https://other.example"}),
        manage_database=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_browser_frontend_on_an_allowed_origin_passes_preflight_and_reads_answers(
    cors_client: httpx.AsyncClient,
) -> None:
    answer = await cors_client.options("/graphql", headers=preflight(FRONTEND))
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == FRONTEND
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()

    real = await cors_client.post("/graphql", json=QUERY, headers={"Origin": FRONTEND})
    assert real.json() == {"data": {"__typename": "Query"}}
    assert real.headers["access-control-allow-origin"] == FRONTEND
    assert real.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in real.headers["access-control-expose-headers"].lower()


async def test_preflight_from_another_origin_gets_no_cors_header_and_a_json_error(
    cors_client: httpx.AsyncClient,
) -> None:
    answer = await cors_client.options("/graphql", headers=preflight("https://evil.example"))
    assert answer.status_code == 400
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    assert answer.json()["errors"][0]["extensions"]["code"] == "CORS_REFUSED"
    real = await cors_client.post(
        "/graphql", json=QUERY, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in real.headers


async def test_without_configured_origins_no_cross_origin_access(client: httpx.AsyncClient) -> None:
    answer = await client.options("/graphql", headers=preflight(FRONTEND))
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


def test_production_refuses_a_wildcard_origin() -> None:
    with pytest.raises(ValueError, match="CORS_ALLOW_ORIGINS"):
        production_settings(
            mongodb_uri="mongodb://db.example/?replicaSet=rs0", cors_allow_origins="*"
        )


async def test_landing_page_points_to_graphql_docs_and_health(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    for link in ('href="/graphql"', 'href="/healthz"', 'href="/readyz"', 'href="/docs/errors.md"'):
        assert link in page.text
    doc = await client.get("/docs/errors.md")
    assert doc.status_code == 200
    assert "UNAUTHENTICATED" in doc.text
    assert (await client.get("/docs/..%2Fconfig.py")).status_code == 404


def test_readyz_names_the_failing_part(settings: Settings, database) -> None:
    db_name = f"cashcc_ready_{uuid.uuid4().hex[:8]}"
    asyncio.run(migrate_database(settings.mongodb_uri or "", db_name, retention_days=92))
    redis = RedisServer()
    redis.start()
    server = ApiServer(
        server_env(
            mongodb_uri=settings.mongodb_uri or "", mongodb_db=db_name, broadcast_url=redis.url
        )
    )
    mongo: MongoClient = MongoClient(settings.mongodb_uri)
    try:
        with running(server):
            ready = httpx.get(f"{server.http_url}/readyz", timeout=10)
            assert (ready.status_code, ready.json()) == (200, {"status": "ok"})

            redis.kill()
            down = httpx.get(f"{server.http_url}/readyz", timeout=10)
            assert down.status_code == 503
            assert down.json()["problems"] == ["redis: not answering (ConnectionError)"]

            redis.start()
            wait_until(
                lambda: httpx.get(f"{server.http_url}/readyz", timeout=10).status_code == 200,
                timeout=10,
                what="readiness after Redis is back",
            )
            mongo[db_name]["transactions"].drop_index("org_id_1_machine_id_1_seq_1")
            broken = httpx.get(f"{server.http_url}/readyz", timeout=10)
            assert broken.status_code == 503
            assert broken.json()["problems"] == [
                "database: index (org_id,machine_id,seq) missing on transactions"
            ]
    finally:
        redis.stop()
        mongo.drop_database(db_name)
        mongo.close()


def test_configuration_errors_print_one_line_each_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "JWT_SECRET")}
    env.update({"APP_ENV": "production", "API_KEY_PEPPER": "short"})
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "configuration error: JWT_SECRET must be set to a random secret of at least 32 characters",
        "configuration error: API_KEY_PEPPER must be set to a random secret of at least 32 "
        "characters",
        "configuration error: WEBHOOK_SECRET_KEY must be set to a random secret of at least 32 "
        "characters",
        "configuration error: AUDIT_SIGNING_KEYS must hold this deployment's own signing key",
        "configuration error: AUDIT_LOG_ORIGIN must name this deployment",
        "configuration error: MONGODB_URI must point at a MongoDB replica set",
    ]
    bad_port = subprocess.run(
        [sys.executable, "-m", "cli.main", "embedded-db", "status"],
        cwd=REPO,
        env={**os.environ, "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_port.returncode == 2
    assert bad_port.stderr.strip() == (
        "configuration error: PORT: Input should be a valid integer, unable to parse string "
        "as an integer (got 'eighty')"
    )


def test_every_cli_option_has_a_help_text() -> None:
    from cli.main import build_parser

    parser = build_parser(Settings(app_env="test", port=8123))
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"orgs", "shops", "machines", "keys", "serve", "simulate"} <= set(commands.choices)
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"cashcc {name} {action.option_strings or action.dest}"
    simulate = commands.choices["simulate"].format_help()
    assert "http://127.0.0.1:8123/graphql" in simulate  # --url follows PORT


def test_agent_mistakes_print_one_error_line(tmp_path) -> None:
    from agent.outbox import Outbox

    Outbox(tmp_path / "ci50.sqlite", "machine-a").close()
    for outbox, expected in (
        ("ci50.sqlite", "belongs to machine machine-a"),
        ("missing.sqlite", "--outbox: no outbox at"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "agent", "status", "--machine-id", "machine-b",
             "--outbox", str(tmp_path / outbox)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2
        assert len(done.stderr.splitlines()) == 1
        assert expected in done.stderr


async def test_graphiql_loads_every_asset_from_this_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    for source in sources:
        assert source.startswith("/graphiql-assets/"), source  # no CDN
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000
    assert "window.GraphiQL=" in (await client.get("/graphiql-assets/graphiql.min.js")).text
