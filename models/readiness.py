"""What `/readyz` asks the database: does it answer, and do the indexes the code relies on
(unique keys that make ingest exactly-once, the retention TTL) exist?"""

from __future__ import annotations

import asyncio

from pymongo.errors import PyMongoError

from models.db import get_database
from models.schema import schema_problems

PING_TIMEOUT_SECONDS = 2.0


async def database_problems() -> list[str]:
    """Empty when the database answers and every declared collection and index exists;
    otherwise what is wrong, one entry per problem (never raises)."""
    try:
        database = get_database()
    except RuntimeError:
        return ["database: not connected"]
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await database.db.command("ping")
            problems = await schema_problems(database.db, retention_days=None)
            return [f"database: {problem}" for problem in problems]
    except (PyMongoError, TimeoutError) as exc:
        return [f"database: not answering ({type(exc).__name__})"]
