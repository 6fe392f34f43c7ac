"""Raw transactions expire by TTL measured from arrival; the period follows the setting."""

from __future__ import annotations

from models.db import Database
from models.ledger import Transaction
from models.schema import RETENTION_INDEX_NAME, ensure_retention_ttl


async def ttl_seconds(database: Database) -> int:
    info = await database.db[Transaction.Settings.name].index_information()
    index = info[RETENTION_INDEX_NAME]
    assert index["key"] == [("received_at", 1)]
    return index["expireAfterSeconds"]


async def test_retention_index_is_on_arrival_time_and_follows_the_setting(
    database: Database,
) -> None:
    assert await ttl_seconds(database) == 92 * 86_400
    try:
        await ensure_retention_ttl(database.db, retention_days=30)
        assert await ttl_seconds(database) == 30 * 86_400
    finally:
        await ensure_retention_ttl(database.db, retention_days=92)
    assert await ttl_seconds(database) == 92 * 86_400
