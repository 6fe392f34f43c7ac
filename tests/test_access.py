"""Tenant and shop isolation, role checks, and authentication failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from bson import ObjectId

from models.identity import Role, User
from models.ledger import Transaction
from tests.factories import PASSWORD, Factory, Tenant, gql, gql_data, tx

SHOPS = "query { shops { id name machines { id serial shop { id } } } }"
SHOP = "query($id: ID!) { shop(id: $id) { id } }"
MACHINE = "query($id: ID!) { machine(id: $id) { id inventory { totalValue } } }"
INVENTORY = "query($m: [ID!]) { inventory(machineIds: $m) { machines { machine { id } } } }"
HISTORY = "query($f: TransactionFilterInput) { transactions(filter: $f) { edges { node { id } } } }"
CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code } }
}
"""
CREATE_SHOP = """
mutation { createShop(input: {name: "New", code: "NEW"}) { shop { id } userErrors { code } } }
"""
REGISTER = """
mutation($shop: ID!) {
  registerMachine(input: {shopId: $shop, serial: "X-1", model: CI_50}) {
    machine { id } userErrors { code }
  }
}
"""
LOGIN = """
mutation($e: String!, $p: String!) {
  login(email: $e, password: $p) { accessToken user { email role } userErrors { code message } }
}
"""


EMPTY_BATCH = """
mutation($m: ID!, $k: String!) {
  ingestTransactions(input: {machineId: $m, idempotencyKey: $k, transactions: []}) { accepted }
}
"""


async def empty_batch(factory: Factory, tenant: Tenant, key: str, *, idempotency: str) -> dict:
    """The body of an empty ingest batch for the tenant's machine, sent with API key `key`."""
    variables = {"m": tenant.machine_id, "k": idempotency}
    return await gql(factory.client, EMPTY_BATCH, variables, api_key=key)


def error_code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def create_key(factory: Factory, shop_id: ObjectId, *, token: str) -> dict:
    """The createApiKey payload of a key for the shop, asked for with `token`."""
    variables = {"input": {"name": "till", "shopId": str(shop_id)}}
    return (await gql_data(factory.client, CREATE_KEY, variables, token=token))["createApiKey"]


async def two_shop_tenant(factory: Factory) -> Tenant:
    tenant = await factory.tenant(shops=2, machines_per_shop=1)
    await factory.ingest(tenant, [tx(1)])
    key_b = await factory.api_key(tenant, shop_index=1)
    await factory.ingest(tenant, [tx(1)], machine_id=str(tenant.machines[1].id), api_key=key_b)
    return tenant


async def test_one_organization_never_sees_another(factory: Factory) -> None:
    mine = await two_shop_tenant(factory)
    other = await factory.tenant()
    token = other.admin_token
    shops = (await gql_data(factory.client, SHOPS, token=token))["shops"]
    assert [s["id"] for s in shops] == [str(other.shops[0].id)]
    assert (await gql_data(factory.client, SHOP, {"id": str(mine.shops[0].id)}, token=token))[
        "shop"
    ] is None
    assert (await gql_data(factory.client, MACHINE, {"id": mine.machine_id}, token=token))[
        "machine"
    ] is None
    inventory = await gql_data(factory.client, INVENTORY, {"m": [mine.machine_id]}, token=token)
    assert inventory["inventory"]["machines"] == []
    history = await gql_data(
        factory.client, HISTORY, {"f": {"machineIds": [mine.machine_id]}}, token=token
    )
    assert history["transactions"]["edges"] == []
    key = await create_key(factory, mine.shops[0].id, token=token)
    assert key["userErrors"][0]["code"] == "NOT_FOUND"


async def test_an_api_key_of_another_organization_cannot_write(factory: Factory) -> None:
    mine = await factory.tenant()
    other = await factory.tenant()
    result = await factory.ingest(mine, [tx(1)], api_key=other.api_key)
    assert [e["code"] for e in result["userErrors"]] == ["NOT_FOUND"]
    assert await Transaction.find({"org_id": mine.org.id}).count() == 0


async def test_a_manager_sees_and_manages_only_assigned_shops(factory: Factory) -> None:
    tenant = await two_shop_tenant(factory)
    _, token = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    shops = (await gql_data(factory.client, SHOPS, token=token))["shops"]
    assert [s["id"] for s in shops] == [str(tenant.shops[0].id)]
    assert [m["id"] for m in shops[0]["machines"]] == [tenant.machine_id]
    assert shops[0]["machines"][0]["shop"]["id"] == str(tenant.shops[0].id)
    hidden = str(tenant.machines[1].id)
    assert (await gql_data(factory.client, MACHINE, {"id": hidden}, token=token))["machine"] is None
    inventory = await gql_data(factory.client, INVENTORY, {"m": None}, token=token)
    assert [m["machine"]["id"] for m in inventory["inventory"]["machines"]] == [tenant.machine_id]
    history = await gql_data(factory.client, HISTORY, {"f": None}, token=token)
    assert len(history["transactions"]["edges"]) == 1
    asked_for_more = await gql_data(
        factory.client, HISTORY, {"f": {"shopIds": [str(s.id) for s in tenant.shops]}}, token=token
    )
    assert len(asked_for_more["transactions"]["edges"]) == 1

    own = await create_key(factory, tenant.shops[0].id, token=token)
    assert own["secret"].startswith("cck_")
    foreign = await create_key(factory, tenant.shops[1].id, token=token)
    assert foreign["userErrors"][0]["code"] == "NOT_FOUND"
    assert error_code(await gql(factory.client, CREATE_SHOP, token=token)) == "FORBIDDEN"


async def test_an_employee_is_read_only(factory: Factory) -> None:
    tenant = await factory.tenant()
    _, token = await factory.user(tenant, Role.EMPLOYEE, [0])
    assert (await gql_data(factory.client, SHOPS, token=token))["shops"]
    for query, variables in (
        (CREATE_KEY, {"input": {"name": "x", "shopId": str(tenant.shops[0].id)}}),
        (REGISTER, {"shop": str(tenant.shops[0].id)}),
        (CREATE_SHOP, None),
    ):
        assert error_code(await gql(factory.client, query, variables, token=token)) == "FORBIDDEN"


async def test_keys_cover_only_their_shop_and_listed_machines(factory: Factory) -> None:
    tenant = await factory.tenant(shops=2, machines_per_shop=2)
    shop0_m0, shop0_m1, shop1_m0 = (str(m.id) for m in tenant.machines[:3])
    result = await factory.ingest(tenant, [tx(1), tx(2)], machine_id=shop1_m0)
    assert [e["code"] for e in result["userErrors"]] == ["MACHINE_NOT_COVERED"]
    assert (result["accepted"], result["rejected"]) == (0, [])

    narrow = await factory.api_key(tenant, shop_index=0, machine_ids=[shop0_m0])
    ok = await factory.ingest(tenant, [tx(1)], machine_id=shop0_m0, api_key=narrow)
    assert ok["accepted"] == 1
    refused = await factory.ingest(tenant, [tx(1)], machine_id=shop0_m1, api_key=narrow)
    assert [e["code"] for e in refused["userErrors"]] == ["MACHINE_NOT_COVERED"]
    assert await Transaction.find({"org_id": tenant.org.id}).count() == 1


async def test_keys_and_users_are_kept_to_their_kind_of_operation(factory: Factory) -> None:
    tenant = await factory.tenant()
    assert error_code(await gql(factory.client, SHOPS, api_key=tenant.api_key)) == "FORBIDDEN"
    body = await gql(
        factory.client,
        'mutation { ingestTransactions(input: {machineId: "x", '
        'idempotencyKey: "k", transactions: []}) { accepted } }',
        token=tenant.admin_token,
    )
    assert error_code(body) == "FORBIDDEN"


async def test_login_and_its_failures_look_the_same(factory: Factory) -> None:
    tenant = await factory.tenant()
    ok = (await gql_data(factory.client, LOGIN, {"e": tenant.admin.email.upper(), "p": PASSWORD}))[
        "login"
    ]
    assert ok["user"] == {"email": tenant.admin.email, "role": "ORG_ADMIN"}
    me = await gql_data(factory.client, "{ me { email } }", token=ok["accessToken"])
    assert me["me"]["email"] == tenant.admin.email

    wrong = await gql_data(factory.client, LOGIN, {"e": tenant.admin.email, "p": "nope"})
    unknown = await gql_data(factory.client, LOGIN, {"e": "nobody@example.com", "p": "nope"})
    assert wrong == unknown
    assert wrong["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong["login"]["accessToken"] is None


async def test_a_deactivated_user_is_locked_out_at_once(factory: Factory) -> None:
    tenant = await factory.tenant()
    user, token = await factory.user(tenant, Role.EMPLOYEE, [0])
    assert (await gql_data(factory.client, "{ me { email } }", token=token))["me"]
    await User.get_pymongo_collection().update_one({"_id": user.id}, {"$set": {"active": False}})
    assert error_code(await gql(factory.client, "{ me { email } }", token=token)) == (
        "UNAUTHENTICATED"
    )
    login = await gql_data(factory.client, LOGIN, {"e": user.email, "p": PASSWORD})
    assert login["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_bad_tokens_and_keys_are_refused(factory: Factory) -> None:
    tenant = await factory.tenant()
    settings = factory.settings
    expired = jwt.encode(
        {
            "sub": str(tenant.admin.id),
            "org": str(tenant.org.id),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": datetime.now(UTC) - timedelta(hours=1),
            "nbf": datetime.now(UTC) - timedelta(hours=1),
            "exp": datetime.now(UTC) - timedelta(minutes=5),
        },
        settings.jwt_secret,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": str(tenant.admin.id)},
        "a-different-secret-of-sufficient-length-0123",
        algorithm="HS256",
    )
    unsigned = jwt.encode(
        {"sub": str(tenant.admin.id), "org": str(tenant.org.id)}, None, algorithm="none"
    )
    for token in (expired, forged, unsigned, "garbage"):
        body = await gql(factory.client, SHOPS, token=token)
        assert error_code(body) == "UNAUTHENTICATED", token
        assert body["data"] is None
    assert error_code(await gql(factory.client, SHOPS)) == "UNAUTHENTICATED"

    typo = tenant.api_key[:-1] + ("A" if tenant.api_key[-1] != "A" else "B")
    for key in (typo, "cck_test_nope", tenant.api_key + "x"):
        body = await empty_batch(factory, tenant, key, idempotency="k")
        assert error_code(body) == "UNAUTHENTICATED"


async def test_a_revoked_key_stops_working(factory: Factory) -> None:
    tenant = await factory.tenant()
    created = await create_key(factory, tenant.shops[0].id, token=tenant.admin_token)
    secret = created["secret"]
    key_id = created["apiKey"]["id"]
    assert created["apiKey"]["prefix"] == secret.rsplit("_", 1)[0]
    assert (await factory.ingest(tenant, [tx(1)], api_key=secret))["accepted"] == 1
    revoked = await gql_data(
        factory.client,
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }",
        {"id": key_id},
        token=tenant.admin_token,
    )
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"]
    body = await empty_batch(factory, tenant, secret, idempotency="k2")
    assert error_code(body) == "UNAUTHENTICATED"


async def test_secrets_are_stored_hashed(factory: Factory) -> None:
    from models.identity import ApiKey

    tenant = await factory.tenant()
    stored = await ApiKey.find({"org_id": tenant.org.id}).to_list()
    secret_part = tenant.api_key.rsplit("_", 1)[1][:40]
    for key in stored:
        assert secret_part not in key.model_dump_json()
    assert tenant.admin.password_hash.startswith("$argon2id$")
