"""Readiness: the parts a worker needs before a load balancer should send it traffic."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from redis import asyncio as redis
from redis.exceptions import RedisError

from models.readiness import database_problems

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
