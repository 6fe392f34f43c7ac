"""Malformed requests get clear errors, never a crash or a stack trace."""

from __future__ import annotations

from tests.factories import Factory, gql, gql_data


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
    blank = await factory.ingest(tenant, [], key="   ")
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
