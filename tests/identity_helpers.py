"""Helpers for the identity tests: clients with their own client address, production
settings on the test database, and operations."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx

from config import Settings
from tests.audit_support import PRODUCTION_AUDIT

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken expiresAt refreshExpiresAt
    user { id role }
    userErrors { field code message }
  }
}
"""
REFRESH = """
mutation Refresh($t: String!) {
  refreshSession(refreshToken: $t) {
    accessToken refreshToken user { id } userErrors { field code message }
  }
}
"""
LOGOUT = "mutation Logout($t: String!) { logout(refreshToken: $t) { ok } }"
ME = "{ me { id email role } }"


def production_settings(settings: Settings | None = None, **changes: Any) -> Settings:
    """Production mode with secrets production accepts, on the database of `settings` (the
    test database) unless `changes` name one."""
    database = {}
    if settings is not None:
        database = {"mongodb_uri": settings.mongodb_uri, "mongodb_db": settings.mongodb_db}
    return Settings(
        app_env="production",
        jwt_secret="p" * 48,
        api_key_pepper="q" * 48,
        webhook_secret_key="w" * 48,
        **{**database, **PRODUCTION_AUDIT, **changes},
    )


def random_address() -> str:
    """A client address no other test uses, so per-address login buckets do not interfere."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, *, address: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for an app built from `settings`, calling from `address`."""
    from graph.app import create_app

    app = create_app(settings, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=(address or random_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
