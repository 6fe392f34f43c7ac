"""Configuration safety, production mode, and the `cashcc` command line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest
from pydantic import ValidationError

from config import Settings
from graph.app import create_app
from models.identity import User
from tests.identity_helpers import production_settings
from tests.servers import REPO


def test_production_refuses_default_secrets_and_missing_database() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(app_env="production")
    message = str(info.value)
    assert "JWT_SECRET" in message
    assert "API_KEY_PEPPER" in message
    assert "WEBHOOK_SECRET_KEY" in message
    assert "MONGODB_URI" in message
    assert "AUDIT_SIGNING_KEYS" in message
    assert "AUDIT_LOG_ORIGIN" in message
    ok = production_settings(mongodb_uri="mongodb://db.example:27017/?replicaSet=rs0")
    assert ok.is_production


async def test_production_mode_hides_graphiql_and_introspection() -> None:
    settings = production_settings(mongodb_uri="mongodb://unused:27017")
    app = create_app(settings, manage_database=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        body = (
            await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        ).json()
        assert body["data"] is None
        assert "introspection" in body["errors"][0]["message"].lower()


async def test_development_mode_serves_graphiql(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_create_org_command_creates_an_org_and_refuses_bad_input(
    settings: Settings, database
) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "MONGODB_URI": settings.mongodb_uri, "MONGODB_DB": settings.mongodb_db}
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "create-org",
        "--name",
        "CLI Org",
        "--admin-email",
        email,
        "--admin-password",
        "a-long-password-42",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "organization CLI Org created" in done.stdout
    user = await User.find_one(User.email == email)
    assert user is not None
    assert user.role.value == "ORG_ADMIN"

    weak = [*command[:-1], "short"]
    refused = subprocess.run(weak, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "adminPassword: password must be at least 10 characters" in refused.stderr
