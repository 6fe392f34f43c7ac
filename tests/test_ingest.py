"""Batch ingest: exactly-once under retries and concurrency, per-record rejections, seq gaps,
idempotency-key misuse, and inventory arithmetic."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from graph.ledger.inputs import TransactionInput, record_input
from models.batch_store import claim_batch
from models.currencies import get_currency, slot_key
from models.ledger import FLOW_SIGN, IngestBatch, Transaction
from models.ledger_store import find_inventory_state
from models.organization import utcnow
from models.scope import Scope
from resolvers.ledger.ingest.records import request_fingerprint
from tests.factories import INGEST, Factory, Tenant, gql, ingest_variables, tx

INVENTORY = """
query Inventory($machineIds: [ID!]) {
  inventory(machineIds: $machineIds) {
    machines {
      totalValue totalPieces chainPosition
      denominations { kind denomination count status value capacity }
    }
    totals { currency value pieces }
  }
}
"""


async def stored(tenant: Tenant) -> list[dict]:
    return (
        await Transaction.get_pymongo_collection()
        .find({"org_id": tenant.org.id})
        .sort("chain_position")
        .to_list(None)
    )


async def counts_of(tenant: Tenant) -> dict[str, int]:
    state = await find_inventory_state(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert state is not None
    return {k: v for k, v in state["counts"].items() if v}


async def test_batch_is_accepted_and_inventory_follows(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(
        tenant,
        [
            tx(1, "REPLENISHMENT", [(1000, 50), (200, 100)]),
            tx(2, "DEPOSIT", [(5000, 3)], amount=15000),
            tx(3, "WITHDRAWAL", [(1000, 4), (200, 5)]),
            tx(4, "COLLECTION", [(5000, 1)]),
            tx(5, "ADJUSTMENT", [(200, -2), (1000, 1)]),
        ],
    )
    assert result["accepted"] == 5
    assert result["duplicates"] == 0
    assert result["rejected"] == []
    assert result["missingSeqs"] == []
    assert result["chainPosition"] == 5
    assert result["userErrors"] == []
    assert await counts_of(tenant) == {"N1000": 47, "C200": 93, "N5000": 2}

    body = await gql(
        factory.client, INVENTORY, {"machineIds": [tenant.machine_id]}, token=tenant.admin_token
    )
    machine = body["data"]["inventory"]["machines"][0]
    by_denomination = {(d["kind"], d["denomination"]): d for d in machine["denominations"]}
    assert by_denomination[("NOTE", 1000)]["count"] == 47
    assert by_denomination[("NOTE", 1000)]["value"] == 47_000
    assert by_denomination[("COIN", 200)]["count"] == 93
    assert by_denomination[("NOTE", 500)]["status"] == "EMPTY"
    assert machine["totalValue"] == 47 * 1000 + 93 * 200 + 2 * 5000
    assert body["data"]["inventory"]["totals"] == [
        {"currency": "EUR", "value": machine["totalValue"], "pieces": 47 + 93 + 2}
    ]


async def test_retry_with_same_key_replays_the_stored_response(factory: Factory) -> None:
    tenant = await factory.tenant()
    records = [tx(1), tx(2, lines=[(99, 1)]), tx(3)]
    first = await factory.ingest(tenant, records, idempotency_key="batch-1")
    again = await factory.ingest(tenant, records, idempotency_key="batch-1")
    assert first["accepted"] == 2
    assert first["replayed"] is False
    assert again == {**first, "replayed": True}
    assert len(await stored(tenant)) == 2
    assert await counts_of(tenant) == {"N1000": 4}


async def test_resend_under_a_new_key_counts_duplicates_and_stores_nothing(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1), tx(2)])
    result = await factory.ingest(tenant, [tx(1), tx(2), tx(3)])
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (1, 2, [])
    assert [d["seq"] for d in await stored(tenant)] == [1, 2, 3]
    assert await counts_of(tenant) == {"N1000": 6}


async def test_concurrent_identical_submissions_apply_once(factory: Factory) -> None:
    tenant = await factory.tenant()
    records = [tx(seq, lines=[(2000, seq)]) for seq in range(1, 51)]

    async def submit(key: str) -> dict:
        body = await gql(
            factory.client,
            INGEST,
            ingest_variables(tenant.machine_id, records, idempotency_key=key),
            api_key=tenant.api_key,
        )
        return body["data"]["ingestTransactions"]

    # Same key five times and a different key five times, all at once.
    results = await asyncio.gather(
        *[submit("same") for _ in range(5)], *[submit(f"k{i}") for i in range(5)]
    )
    # A replay repeats the first response (accepted 50): count first applications only.
    assert sum(r["accepted"] for r in results if not r["replayed"]) == 50
    assert {r["accepted"] for r in results if r["replayed"]} <= {50}
    for r in results:
        codes = {e["code"] for e in r["userErrors"]}
        assert codes <= {"IN_PROGRESS"}
        if codes:
            assert r["userErrors"][0]["retryable"] is True
    docs = await stored(tenant)
    assert sorted(d["seq"] for d in docs) == list(range(1, 51))
    assert await counts_of(tenant) == {"N2000": sum(range(1, 51))}


async def test_bad_records_are_rejected_one_by_one_and_good_ones_kept(factory: Factory) -> None:
    tenant = await factory.tenant()
    future = datetime.now(UTC) + timedelta(days=3)
    records = [
        tx(1),
        tx(2, lines=[(300, 1)]),  # not a EUR denomination
        tx(3, lines=[(1000, 2)], amount=999),  # amount mismatch
        tx(4, lines=[(1000, -1)]),  # negative count on a deposit
        tx(5, currency="USD", lines=[(500, 1)]),  # machine handles EUR
        tx(6, currency="XXX"),  # unknown currency
        tx(7, lines=[]),  # nothing in it
        tx(8, lines=[(1000, 1), (1000, 2)]),  # same denomination twice
        tx(9, occurred_at=future),  # clock far ahead
        tx(0),  # seq must be positive
        tx(10, lines=[(1000, 0)]),  # zero pieces
        tx(11, lines=[(5000, 3)]),
    ]
    result = await factory.ingest(tenant, records)
    assert result["accepted"] == 2
    codes = {r["index"]: r["code"] for r in result["rejected"]}
    assert codes == {
        1: "UNKNOWN_DENOMINATION",
        2: "AMOUNT_MISMATCH",
        3: "NEGATIVE_COUNT",
        4: "WRONG_CURRENCY",
        5: "UNKNOWN_CURRENCY",
        6: "EMPTY_LINES",
        7: "DUPLICATE_DENOMINATION",
        8: "FUTURE_TIMESTAMP",
        9: "INVALID_SEQ",
        10: "ZERO_COUNT",
    }
    assert all(r["message"] for r in result["rejected"])
    assert [r["seq"] for r in result["rejected"]] == [2, 3, 4, 5, 6, 7, 8, 9, 0, 10]
    assert await counts_of(tenant) == {"N1000": 2, "N5000": 3}


async def test_out_of_order_seqs_are_accepted_and_gaps_reported(factory: Factory) -> None:
    tenant = await factory.tenant()
    first = await factory.ingest(tenant, [tx(5), tx(2), tx(9)])
    assert first["accepted"] == 3
    assert first["missingSeqs"] == [
        {"from": 1, "to": 1},
        {"from": 3, "to": 4},
        {"from": 6, "to": 8},
    ]
    second = await factory.ingest(tenant, [tx(1), tx(3), tx(4), tx(6), tx(7), tx(8)])
    assert second["accepted"] == 6
    assert second["missingSeqs"] == []
    positions = {d["seq"]: d["chain_position"] for d in await stored(tenant)}
    assert positions == {5: 1, 2: 2, 9: 3, 1: 4, 3: 5, 4: 6, 6: 7, 7: 8, 8: 9}


async def test_missing_seqs_are_bounded(factory: Factory) -> None:
    tenant = await factory.tenant()
    limit = factory.settings.missing_seq_ranges_limit
    result = await factory.ingest(tenant, [tx(seq) for seq in range(2, 2 * limit + 20, 2)])
    assert len(result["missingSeqs"]) == limit
    assert result["missingSeqsTruncated"] is True
    assert result["missingSeqs"][0] == {"from": 1, "to": 1}


async def test_an_empty_batch_reports_gaps_without_storing(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(3)])
    result = await factory.ingest(tenant, [])
    assert result["accepted"] == 0
    assert result["missingSeqs"] == [{"from": 1, "to": 2}]


async def test_same_key_with_a_different_payload_is_refused(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1)], idempotency_key="k")
    result = await factory.ingest(tenant, [tx(2)], idempotency_key="k")
    assert [e["code"] for e in result["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert result["accepted"] == 0
    assert [d["seq"] for d in await stored(tenant)] == [1]


async def test_same_key_while_the_first_runs_is_in_progress_then_taken_over(
    factory: Factory,
) -> None:
    """A claim whose worker is alive blocks retries (IN_PROGRESS); once its lease has ended
    (the worker died), the retry takes it over and applies the batch exactly once."""
    tenant = await factory.tenant()
    records = [tx(1)]
    # Another worker claimed the key (through the same claim the server makes) and works.
    now = utcnow()
    claimed = await claim_batch(
        scope=Scope(org_id=tenant.org.id, shop_ids=frozenset({tenant.shops[0].id})),
        machine_id=tenant.machines[0].id,
        key="busy",
        fingerprint=fingerprint_of(tenant, records),
        owner="other-worker",
        now=now,
        lease_until=now + timedelta(minutes=5),
        expires_at=now + timedelta(days=7),
    )
    assert claimed is None
    blocked = await factory.ingest(tenant, records, idempotency_key="busy")
    assert [(e["code"], e["retryable"]) for e in blocked["userErrors"]] == [("IN_PROGRESS", True)]
    assert await stored(tenant) == []

    # The other worker died: its lease ends (the server's clock moves past it).
    await IngestBatch.get_pymongo_collection().update_one(
        {"idempotency_key": "busy", "org_id": tenant.org.id},
        {"$set": {"lease_until": now - timedelta(seconds=1)}},
    )
    taken = await factory.ingest(tenant, records, idempotency_key="busy")
    assert taken["accepted"] == 1
    assert taken["userErrors"] == []


def fingerprint_of(tenant: Tenant, records: list[dict]) -> str:
    """The fingerprint the server computes for these records: built by the server's own
    input builder from the values graphql-core hands it."""
    coerced = [
        {
            **r,
            "occurredAt": datetime.fromisoformat(r["occurredAt"]),
            "lines": [{**ln, "kind": None} for ln in r["lines"]],
        }
        for r in records
    ]
    return request_fingerprint(
        tenant.machine_id,
        [record_input(TransactionInput, c, None) for c in coerced],  # type: ignore[arg-type]
    )


async def test_oversized_batch_is_refused_whole(factory: Factory) -> None:
    tenant = await factory.tenant()
    limit = factory.settings.max_batch_size
    result = await factory.ingest(
        tenant, [tx(s) for s in range(1, limit + 2)], idempotency_key="refused-first"
    )
    assert [e["code"] for e in result["userErrors"]] == ["BATCH_TOO_LARGE"]
    assert result["userErrors"][0]["field"] == "input.transactions"
    assert await stored(tenant) == []
    # The key was not consumed: the same key works for a valid batch.
    assert (await factory.ingest(tenant, [tx(1)], idempotency_key="refused-first"))["accepted"] == 1


async def test_a_full_batch_of_one_thousand_is_accepted(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(tenant, [tx(s) for s in range(1, 1001)])
    assert result["accepted"] == 1000
    assert await counts_of(tenant) == {"N1000": 2000}


async def test_withdrawal_below_zero_is_stored_and_flagged(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(
        tenant,
        [
            tx(1, "DEPOSIT", [(1000, 2)]),
            tx(2, "WITHDRAWAL", [(1000, 5)]),
            tx(3, "DEPOSIT", [(1000, 4)]),
        ],
    )
    assert result["accepted"] == 3
    flags = {d["seq"]: d["flags"] for d in await stored(tenant)}
    assert flags == {1: [], 2: ["NEGATIVE_INVENTORY"], 3: []}
    assert await counts_of(tenant) == {"N1000": 1}


async def test_resent_seq_with_other_content_is_a_conflict(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1, lines=[(1000, 1)])])
    result = await factory.ingest(tenant, [tx(1, lines=[(1000, 9)]), tx(2)])
    assert result["accepted"] == 1
    assert [(r["seq"], r["code"]) for r in result["rejected"]] == [(1, "SEQ_CONFLICT")]
    assert await counts_of(tenant) == {"N1000": 3}


async def test_same_seq_twice_in_one_batch(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(tenant, [tx(1), tx(1), tx(1, lines=[(500, 1)])])
    assert (result["accepted"], result["duplicates"]) == (1, 1)
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [(2, "DUPLICATE_SEQ_IN_BATCH")]


async def test_duplicates_stay_detected_after_raw_records_expire(factory: Factory) -> None:
    """Raw transactions leave with the retention TTL; a replay of an expired seq must not be
    applied to the inventory again."""
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1), tx(2)])
    await Transaction.get_pymongo_collection().delete_many({"org_id": tenant.org.id})
    result = await factory.ingest(tenant, [tx(1), tx(2)])
    assert (result["accepted"], result["duplicates"]) == (0, 2)
    assert await counts_of(tenant) == {"N1000": 4}


async def test_inventory_equals_the_sum_of_accepted_records(factory: Factory) -> None:
    """A long random mix, sent in shuffled batches with resends, ends at the exact sum."""
    tenant = await factory.tenant()
    rng = random.Random(7)
    denominations = [500, 1000, 2000, 5000, 10, 20, 50, 100, 200]
    records = []
    expected: Counter[int] = Counter()
    for seq in range(1, 301):
        kind = rng.choice(["DEPOSIT", "WITHDRAWAL", "REPLENISHMENT", "COLLECTION", "ADJUSTMENT"])
        chosen = rng.sample(denominations, rng.randint(1, 3))
        lines = [
            (d, rng.randint(1, 20) * (rng.choice([1, -1]) if kind == "ADJUSTMENT" else 1))
            for d in chosen
        ]
        sign = FLOW_SIGN[kind]
        for d, c in lines:
            expected[d] += sign * c
        records.append(tx(seq, kind, lines))
    shuffled = records[:]
    rng.shuffle(shuffled)
    for start in range(0, 300, 40):
        batch = shuffled[start : start + 40] + rng.sample(records, 5)  # resends
        await factory.ingest(tenant, batch, idempotency_key=uuid.uuid4().hex)
    counts = await counts_of(tenant)
    eur = get_currency("EUR")
    assert eur is not None
    want = {slot_key(eur.kinds_of(d)[0], d): c for d, c in expected.items() if c}
    assert counts == want
    assert len(await stored(tenant)) == 300
