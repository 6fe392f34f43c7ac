"""Malformed requests get clear errors, never a crash or a stack trace."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.factories import Factory, gql, gql_data, tx


async def test_malformed_ids_and_inputs_are_answered_cleanly(factory: Factory) -> None:
    tenant = await factory.tenant()
    token = tenant.admin_token
    data = await gql_data(
        factory.client, '{ machine(id: "nope") { id } shop(id: "x") { id } }', token=token
    )
    assert data == {"machine": None, "shop": None}
    body = await gql(
        factory.client,
        'mutation { ingestTransactions(input: {machineId: "x", '
        'idempotencyKey: "k", transactions: [{seq: "abc"}]}) { accepted } }',
        api_key=tenant.api_key,
    )
    assert body["errors"]
    assert "Traceback" not in str(body)
    seq_too_big = await gql(
        factory.client,
        "mutation($s: Long!) { ingestTransactions(input: {"
        f'machineId: "{tenant.machine_id}", idempotencyKey: "k", '
        "transactions: [{seq: $s, type: DEPOSIT, occurredAt: "
        '"2026-01-01T00:00:00Z", currency: "EUR", lines: []}]}) '
        "{ accepted } }",
        {"s": "99999999999999999999"},
        api_key=tenant.api_key,
    )
    assert "64-bit" in seq_too_big["errors"][0]["message"]


async def test_unknown_machine_and_bad_idempotency_key(factory: Factory) -> None:
    tenant = await factory.tenant()
    missing = await factory.ingest(tenant, [], machine_id="64b000000000000000000000")
    assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [
        ("input.machineId", "NOT_FOUND")
    ]
    blank = await factory.ingest(tenant, [], idempotency_key="   ")
    assert [(e["field"], e["code"]) for e in blank["userErrors"]] == [
        ("input.idempotencyKey", "INVALID")
    ]


async def test_query_depth_is_limited(factory: Factory) -> None:
    tenant = await factory.tenant()
    deep = (
        "{ shops { machines { shop { machines { shop { machines { shop { machines { shop {"
        " machines { shop { id } } } } } } } } } } } }"
    )
    body = await gql(factory.client, deep, token=tenant.admin_token)
    assert "depth" in body["errors"][0]["message"].lower()


async def test_an_unusable_timestamp_rejects_only_its_record(factory: Factory) -> None:
    """A year-1 time with an offset cannot be converted to UTC: that record is rejected and
    the rest of the batch is accepted (no internal error that would stall the machine)."""
    tenant = await factory.tenant()
    result = await factory.ingest(
        tenant,
        [
            tx(1),
            tx(2, occurred_at=datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))),
            tx(3),
        ],
    )
    assert result["accepted"] == 2
    assert [(r["seq"], r["code"]) for r in result["rejected"]] == [(2, "INVALID_TIMESTAMP")]


async def test_analytics_ranges_are_bounded_and_accept_naive_times(factory: Factory) -> None:
    tenant = await factory.tenant()
    huge = await gql(
        factory.client,
        '{ cashFlow(from: "1970-01-01T00:00:00Z", to: '
        '"9000-01-01T00:00:00Z", interval: HOUR) { buckets } }',
        token=tenant.admin_token,
    )
    assert huge["errors"][0]["extensions"]["code"] == "BAD_RANGE"
    ancient = await gql(
        factory.client,
        '{ cashFlow(from: "0001-01-01T00:30:00+01:00", to: "2026-01-01T00:00:00Z") { buckets } }',
        token=tenant.admin_token,
    )
    assert ancient["errors"][0]["extensions"]["code"] == "BAD_TIMESTAMP"
    naive = await gql_data(
        factory.client,
        '{ cashFlow(from: "2026-01-01T00:00:00", to: "2026-01-03T00:00:00Z") { buckets } }',
        token=tenant.admin_token,
    )
    assert len(naive["cashFlow"]["buckets"]) >= 2
