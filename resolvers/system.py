"""The service's own plumbing: opening the database for a process, and readiness (the parts
a worker needs before a load balancer should send it traffic)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from pymongo.errors import PyMongoError
from redis import asyncio as redis
from redis.exceptions import RedisError

from config import Settings
from models.db import Database, connect, database_uri, disconnect, migrate_database
from models.readiness import database_problems
from models.schema import SchemaBehind

# What any failed database call raises: graph/ catches it without importing the driver.
DatabaseError = PyMongoError

__all__ = [
    "DatabaseError",
    "SchemaBehind",
    "close_database",
    "migrate",
    "open_database",
    "readiness_problems",
]

REDIS_TIMEOUT_SECONDS = 1.0
_redis_clients: dict[str, redis.Redis] = {}


async def _redis_problems(url: str) -> list[str]:
    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
        _redis_clients[url] = client
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS * 2):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        return [f"redis: not answering ({type(exc).__name__})"]
    return []


async def readiness_problems(*, broadcast_url: str) -> list[str]:
    """Empty when this worker can serve: the database answers with its indexes in place and,
    with a redis:// fan-out, Redis answers. Otherwise one line per failing part."""
    checks = [database_problems()]
    if urlparse(broadcast_url).scheme in ("redis", "rediss"):
        checks.append(_redis_problems(broadcast_url))
    results = await asyncio.gather(*checks)
    return [problem for result in results for problem in result]


async def open_database(settings: Settings) -> Database:
    """Connect this process: MONGODB_URI, or the embedded server under VAR_DIR (started on
    demand). Raises SchemaBehind when the database needs `cashcc migrate`; the embedded
    default migrates itself (it has no separate deploy step)."""
    return await connect(
        database_uri(settings.mongodb_uri, settings.embedded_db_dir, settings.var_dir),
        settings.mongodb_db,
        retention_days=settings.retention_days,
        max_concurrent_transactions=settings.max_concurrent_transactions,
        migrate=not settings.mongodb_uri,
        timeout_seconds=settings.mongodb_timeout_seconds,
    )


async def migrate(settings: Settings) -> list[str]:
    """`cashcc migrate`: the schema changes a deploy applies before workers start
    (idempotent); returns what changed."""
    return await migrate_database(
        database_uri(settings.mongodb_uri, settings.embedded_db_dir, settings.var_dir),
        settings.mongodb_db,
        retention_days=settings.retention_days,
    )


async def close_database() -> None:
    await disconnect()
