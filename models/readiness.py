"""What `/readyz` asks the database: does it answer, and do the indexes the code relies on
(unique keys that make ingest exactly-once, the retention TTL) exist?"""

from __future__ import annotations

import asyncio

from pymongo.errors import PyMongoError

from models.db import DOCUMENT_MODELS, RETENTION_INDEX_NAME, get_database
from models.ledger import Transaction

PING_TIMEOUT_SECONDS = 2.0


def expected_indexes() -> dict[str, set[tuple[tuple[str, int], ...]]]:
    """Collection name -> key patterns declared by the document models."""
    wanted: dict[str, set[tuple[tuple[str, int], ...]]] = {}
    for model in DOCUMENT_MODELS:
        settings = model.Settings
        keys = wanted.setdefault(settings.name, set())
        for index in getattr(settings, "indexes", None) or ():
            keys.add(tuple(index.document["key"].items()))
    return wanted


async def database_problems() -> list[str]:
    """Empty when the database answers and every declared index exists; otherwise what is
    wrong, one entry per problem (never raises)."""
    try:
        database = get_database()
    except RuntimeError:
        return ["database: not connected"]
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await database.db.command("ping")
            problems: list[str] = []
            for collection, keys in expected_indexes().items():
                info = await database.db[collection].index_information()
                present = {tuple((k, int(d)) for k, d in index["key"]) for index in info.values()}
                for key in sorted(keys - present):
                    fields = ",".join(name for name, _ in key)
                    problems.append(f"database: index ({fields}) missing on {collection}")
                if collection == Transaction.Settings.name and RETENTION_INDEX_NAME not in info:
                    problems.append(f"database: retention TTL index missing on {collection}")
            return problems
    except (PyMongoError, TimeoutError) as exc:
        return [f"database: not answering ({type(exc).__name__})"]
