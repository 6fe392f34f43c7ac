"""A lost unique-index race reported as a duplicate key (what `insert_many` and `bulk_write`
raise as BulkWriteError, code 11000) is retried like a WriteConflict, never a 500."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo import InsertOne
from pymongo.errors import DuplicateKeyError

import resolvers.ledger.ingest.service as ingest_service
from models.db import Database
from models.duplicates import duplicates_raised_as_duplicate_key
from models.ledger import Transaction
from models.ledger_store import find_inventory_state
from models.scope import Scope
from tests.factories import Factory, tx


async def test_batch_racing_a_committed_batch_on_the_unique_index_is_answered_as_duplicates(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a machine whose state is read before another batch with the same records commits:
    # the late batch sees the seqs as new and its insert hits the unique (seq) and
    # (chain_position) indexes, as when a server reports the race as a duplicate key
    tenant = await factory.tenant()
    scope = Scope.organization(tenant.org.id)
    machine_id = tenant.machines[0].id
    stale = await find_inventory_state(scope=scope, machine_id=machine_id)
    records = [tx(1), tx(2), tx(3)]
    first = await factory.ingest(tenant, records)
    assert first["accepted"] == 3
    reads: list[int] = []

    async def stale_first_read(**kwargs: object) -> dict | None:
        reads.append(1)
        if len(reads) == 1:
            return stale
        return await find_inventory_state(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_service, "find_inventory_state", stale_first_read)

    # when the late batch arrives with another idempotency key
    late = await factory.ingest(tenant, records)

    # then it was retried on fresh state: all duplicates, nothing stored twice
    assert late["userErrors"] == []
    assert (late["accepted"], late["duplicates"]) == (0, 3)
    assert len(reads) == 2
    stored = await Transaction.get_pymongo_collection().count_documents({"machine_id": machine_id})
    assert stored == 3


async def test_a_bulk_write_losing_on_a_unique_index_raises_duplicate_key(
    database: Database,
) -> None:
    collection = database.db["duplicates_probe"]
    await collection.create_index("k", unique=True)
    await collection.insert_one({"k": 1})
    with pytest.raises(DuplicateKeyError) as raised, duplicates_raised_as_duplicate_key():
        await collection.bulk_write([InsertOne({"_id": ObjectId(), "k": 1})])
    assert raised.value.code == 11000
    await collection.drop()
