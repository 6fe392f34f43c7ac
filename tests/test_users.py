"""User management by ORG_ADMIN: create, set access, deactivate; no self-escalation."""

from __future__ import annotations

import httpx
import pytest

from auth.passwords import _DUMMY_HASH, verify_password
from config import Settings
from models.identity import Role
from tests.factories import PASSWORD, Factory, gql, gql_data
from tests.identity_helpers import LOGIN, app_client

CREATE = """
mutation Create($input: CreateUserInput!) {
  createUser(input: $input) {
    user { id email role shopIds machineIds active }
    inviteToken
    userErrors { field code message }
  }
}
"""
ACCEPT = """
mutation Accept($t: String!, $p: String!) {
  acceptInvite(token: $t, password: $p) { user { id } userErrors { field code } }
}
"""
SET_ACCESS = """
mutation Set($id: ID!, $role: Role!, $shops: [ID!], $machines: [ID!]) {
  setUserAccess(id: $id, role: $role, shopIds: $shops, machineIds: $machines) {
    user { id role shopIds machineIds }
    userErrors { field code message }
  }
}
"""
DEACTIVATE = (
    "mutation($id: ID!) { deactivateUser(id: $id) { user { active } userErrors { code } } }"
)


@pytest.fixture
async def http(settings: Settings, database: object) -> httpx.AsyncClient:
    async with app_client(settings) as client:
        yield client


async def test_admin_creates_an_employee_limited_to_one_machine(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=1, machines_per_shop=2)
    created = (
        await gql_data(
            http,
            CREATE,
            {
                "input": {
                    "email": "Cashier@Example.com",
                    "password": PASSWORD,
                    "role": "EMPLOYEE",
                    "shopIds": [str(tenant.shops[0].id)],
                    "machineIds": [tenant.machine_id],
                }
            },
            token=tenant.admin_token,
        )
    )["createUser"]
    assert created["userErrors"] == []
    email = created["user"]["email"]
    assert email == "cashier@example.com"
    session = (await gql_data(http, LOGIN, {"email": email, "password": PASSWORD}))["login"]
    machines = await gql_data(http, "{ shops { machines { id } } }", token=session["accessToken"])
    assert machines["shops"][0]["machines"] == [{"id": tenant.machine_id}]


async def test_invalid_user_input_names_the_field(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=1)
    other = await factory.tenant(shops=1)
    cases = [
        ({"email": "no-at-sign", "password": PASSWORD, "role": "AUDITOR"}, "input.email"),
        ({"email": "a@b.example", "password": "short", "role": "AUDITOR"}, "input.password"),
        ({"email": "a@b.example", "password": PASSWORD, "role": "SHOP_MANAGER"}, "input.shopIds"),
        (
            {
                "email": "a@b.example",
                "password": PASSWORD,
                "role": "SHOP_MANAGER",
                "shopIds": [str(other.shops[0].id)],
            },
            "input.shopIds",
        ),
        (
            {
                "email": "a@b.example",
                "password": PASSWORD,
                "role": "SHOP_MANAGER",
                "shopIds": [str(tenant.shops[0].id)],
                "machineIds": [tenant.machine_id],
            },
            "input.machineIds",
        ),
        (
            {"email": tenant.admin.email, "password": PASSWORD, "role": "AUDITOR"},
            "input.email",
        ),
    ]
    for input_, field in cases:
        result = (await gql_data(http, CREATE, {"input": input_}, token=tenant.admin_token))[
            "createUser"
        ]
        assert result["user"] is None
        assert field in {e["field"] for e in result["userErrors"]}, (input_, result)


async def test_nobody_changes_their_own_access(factory: Factory, http: httpx.AsyncClient) -> None:
    tenant = await factory.tenant(shops=1)
    own = str(tenant.admin.id)
    for query, variables in (
        (SET_ACCESS, {"id": own, "role": "AUDITOR"}),
        (DEACTIVATE, {"id": own}),
    ):
        data = await gql_data(http, query, variables, token=tenant.admin_token)
        result = next(iter(data.values()))
        assert result["userErrors"][0]["code"] == "FORBIDDEN"
    manager, token = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    body = await gql(http, SET_ACCESS, {"id": str(manager.id), "role": "ORG_ADMIN"}, token=token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_role_change_applies_to_the_next_request(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=1)
    manager, token = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    assert "errors" not in await gql(http, "{ apiKeys { id } }", token=token)
    changed = (
        await gql_data(
            http,
            SET_ACCESS,
            {"id": str(manager.id), "role": "EMPLOYEE", "shops": [str(tenant.shops[0].id)]},
            token=tenant.admin_token,
        )
    )["setUserAccess"]
    assert changed["user"]["role"] == "EMPLOYEE"
    body = await gql(http, "{ apiKeys { id } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_admin_can_remove_another_admin_but_not_themselves(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    second, second_token = await factory.user(tenant, Role.ORG_ADMIN, [])
    first_removed = (
        await gql_data(http, DEACTIVATE, {"id": str(tenant.admin.id)}, token=second_token)
    )["deactivateUser"]
    assert first_removed["user"]["active"] is False
    # `second` is now the only active admin and cannot remove themselves either.
    again = (await gql_data(http, DEACTIVATE, {"id": str(second.id)}, token=second_token))[
        "deactivateUser"
    ]
    assert again["userErrors"][0]["code"] == "FORBIDDEN"


async def test_an_invited_user_sets_a_password_once_and_then_logs_in(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    created = (
        await gql_data(
            http,
            CREATE,
            {"input": {"email": "invited@example.com", "role": "AUDITOR"}},
            token=tenant.admin_token,
        )
    )["createUser"]
    token = created["inviteToken"]
    assert token.startswith("cci_")
    email = created["user"]["email"]
    # Before acceptance nobody can log in, whatever they guess.
    blocked = (await gql_data(http, LOGIN, {"email": email, "password": PASSWORD}))["login"]
    assert blocked["accessToken"] is None

    weak = (await gql_data(http, ACCEPT, {"t": token, "p": "invited123456"}))["acceptInvite"]
    assert weak["userErrors"][0]["field"] == "password"
    accepted = (await gql_data(http, ACCEPT, {"t": token, "p": PASSWORD}))["acceptInvite"]
    assert accepted["user"]["id"] == created["user"]["id"]
    reused = (await gql_data(http, ACCEPT, {"t": token, "p": PASSWORD + "x"}))["acceptInvite"]
    assert reused["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    session = (await gql_data(http, LOGIN, {"email": email, "password": PASSWORD}))["login"]
    assert session["user"]["role"] == "AUDITOR"


async def test_common_passwords_and_the_e_mail_are_refused(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    for password in ("password123", "qwertyuiop", "xx-jonathan-2026"):
        result = (
            await gql_data(
                http,
                CREATE,
                {
                    "input": {
                        "email": "jonathan@example.com",
                        "password": password,
                        "role": "AUDITOR",
                    }
                },
                token=tenant.admin_token,
            )
        )["createUser"]
        assert result["userErrors"][0]["field"] == "input.password", password


def test_an_empty_password_hash_never_matches() -> None:
    """The timing dummy's own password must not open an account without a hash."""
    assert verify_password(_DUMMY_HASH, "not-a-real-password-just-timing")
    assert not verify_password("", "not-a-real-password-just-timing")
    assert not verify_password(None, "not-a-real-password-just-timing")
