"""Test fixtures: one real database server per session (embedded SecantusDB on port 0 in a
temporary directory, or the MongoDB at MONGODB_URI), one database, and an HTTP client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pymongo
import pytest

from config import Settings
from models.db import Database, connect, disconnect, migrate_database
from models.embedded import start_server, stop_server
from tests.factories import Factory
from tests.servers import ApiServer, running, server_env, uvicorn_server

DB_NAME = f"cashcc_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external
        return
    var_dir: Path = tmp_path_factory.mktemp("embedded")
    handle = start_server(var_dir / "db", var_dir, test_commands=True)
    try:
        yield handle.uri
    finally:
        stop_server(handle)


@pytest.fixture(scope="session")
def settings(database_uri: str) -> Settings:
    """The test database's settings; the database is migrated (`cashcc migrate`'s code) before
    any test or server uses it, as a deploy does before workers start."""
    settings = Settings(app_env="test", mongodb_uri=database_uri, mongodb_db=DB_NAME)
    asyncio.run(migrate_database(database_uri, DB_NAME, retention_days=settings.retention_days))
    return settings


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.mongodb_uri
    db = await connect(
        settings.mongodb_uri,
        DB_NAME,
        retention_days=settings.retention_days,
        timeout_seconds=settings.mongodb_timeout_seconds,
    )
    try:
        yield db
    finally:
        # Only an external server keeps the test database; the embedded one is stopped and
        # its directory removed. Not dropped there: transactions that SIGKILLed test servers
        # left open are pruned by the embedded server only when another transaction runs, so
        # a drop at the end waited on them past 120 s (and every command behind it).
        if os.environ.get("MONGODB_URI"):
            with pymongo.timeout(120):
                await db.client.drop_database(DB_NAME)
        await disconnect()


@pytest.fixture(scope="session")
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    from graph.app import create_app

    app = create_app(settings, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def factory(client: httpx.AsyncClient, settings: Settings) -> Factory:
    return Factory(client=client, settings=settings)


@pytest.fixture(scope="session")
def fuzz_server(settings: Settings, database: Database) -> Iterator[ApiServer]:
    """One real uvicorn on the test database for the raw-HTTP and WebSocket fuzz tests."""
    assert settings.mongodb_uri
    server = ApiServer(server_env(mongodb_uri=settings.mongodb_uri, mongodb_db=DB_NAME))
    with running(server):
        yield server


@pytest.fixture(scope="module")
def api_url(settings: Settings, database: Database) -> Iterator[str]:
    """The GraphQL URL of a uvicorn API process on the test database, one per module that asks
    for it (a module that needs other server settings defines its own `api_url`)."""
    with uvicorn_server(settings) as base:
        yield f"{base}/graphql"
