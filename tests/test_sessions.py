"""Login, refresh-token rotation with reuse detection, logout, deactivation, throttling."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import jwt
import pytest

from config import Settings
from models.identity import Role
from tests.factories import PASSWORD, Factory, gql, gql_data
from tests.identity_helpers import LOGIN, LOGOUT, ME, REFRESH, app_client


@pytest.fixture
async def http(settings: Settings, database: object) -> httpx.AsyncClient:
    async with app_client(settings) as client:
        yield client


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict:
    data = await gql_data(http, LOGIN, {"email": email, "password": password})
    return data["login"]


async def refresh(http: httpx.AsyncClient, token: str) -> dict:
    return (await gql_data(http, REFRESH, {"t": token}))["refreshSession"]


async def test_login_returns_working_access_and_refresh_tokens(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    session = await login(http, tenant.admin.email)
    assert session["userErrors"] == []
    assert session["refreshToken"].startswith("ccr_")
    me = await gql_data(http, ME, token=session["accessToken"])
    assert me["me"]["email"] == tenant.admin.email

    renewed = await refresh(http, session["refreshToken"])
    assert renewed["userErrors"] == []
    assert renewed["refreshToken"] != session["refreshToken"]
    me = await gql_data(http, ME, token=renewed["accessToken"])
    assert me["me"]["id"] == str(tenant.admin.id)


async def test_unknown_user_wrong_password_and_inactive_user_get_identical_errors(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=1)
    user, _ = await factory.user(tenant, Role.EMPLOYEE, [0])
    await gql_data(
        http,
        "mutation($id: ID!) { deactivateUser(id: $id) { user { active } } }",
        {"id": str(user.id)},
        token=tenant.admin_token,
    )
    unknown = await login(http, f"nobody-{uuid.uuid4().hex}@example.com")
    wrong = await login(http, tenant.admin.email, "wrong-password-123")
    inactive = await login(http, user.email)
    assert unknown == wrong == inactive
    assert unknown["accessToken"] is None
    assert unknown["refreshToken"] is None
    assert unknown["userErrors"] == [
        {"field": None, "code": "INVALID_CREDENTIALS", "message": "invalid e-mail or password"}
    ]


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    """Theft scenario: the attacker and the victim both hold token A. The victim refreshes
    (A -> B); the attacker presents A again: reuse detected, B stops working too, and the
    event is in the security log. Another session of the same user is unaffected."""
    tenant = await factory.tenant(shops=0)
    first = await login(http, tenant.admin.email)
    other = await login(http, tenant.admin.email)
    token_a = first["refreshToken"]
    token_b = (await refresh(http, token_a))["refreshToken"]

    stolen = await refresh(http, token_a)
    assert stolen["accessToken"] is None
    assert stolen["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

    victim = await refresh(http, token_b)
    assert victim["accessToken"] is None, "the family must be revoked after reuse"
    body = await gql(http, ME, token=first["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", "access ends too"
    assert "errors" not in await gql(http, ME, token=other["accessToken"])
    assert (await refresh(http, other["refreshToken"]))["userErrors"] == []

    events = await gql_data(
        http,
        "{ securityEvents(first: 20) { edges { node { action details } } } }",
        token=tenant.admin_token,
    )
    actions = [e["node"]["action"] for e in events["securityEvents"]["edges"]]
    assert "REFRESH_REUSE_DETECTED" in actions


async def test_concurrent_refreshes_with_one_token_issue_at_most_one_pair(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    token = (await login(http, tenant.admin.email))["refreshToken"]
    results = await asyncio.gather(*[refresh(http, token) for _ in range(6)])
    assert sum(1 for r in results if r["accessToken"]) <= 1


async def test_logout_ends_the_session_refresh_and_access(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=0)
    session = await login(http, tenant.admin.email)
    assert "errors" not in await gql(http, ME, token=session["accessToken"])
    assert (await gql_data(http, LOGOUT, {"t": session["refreshToken"]}))["logout"]["ok"]
    assert (await refresh(http, session["refreshToken"]))["accessToken"] is None
    body = await gql(http, ME, token=session["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_deactivating_a_user_stops_refresh_and_access_at_once(
    factory: Factory, http: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant(shops=1)
    user, _ = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    session = await login(http, user.email)
    await gql_data(
        http,
        "mutation($id: ID!) { deactivateUser(id: $id) { user { active } } }",
        {"id": str(user.id)},
        token=tenant.admin_token,
    )
    assert (await refresh(http, session["refreshToken"]))["accessToken"] is None
    body = await gql(http, ME, token=session["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_malformed_refresh_token_is_rejected(http: httpx.AsyncClient) -> None:
    for token in ("", "ccr_short", "x" * 5000, "ccr_" + "A" * 43):
        assert (await refresh(http, token))["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_login_is_throttled_per_account_across_addresses(
    factory: Factory, settings: Settings
) -> None:
    tight = settings.model_copy(update={"login_account_burst": 3, "login_account_per_minute": 0.5})
    tenant = await factory.tenant(shops=0)
    codes = []
    for _ in range(5):
        async with app_client(tight) as http:  # a new client address each time
            body = await gql(
                http, LOGIN, {"email": tenant.admin.email, "password": "wrong-password-1"}
            )
            codes.append(body["errors"][0]["extensions"] if "errors" in body else None)
    assert codes[:3] == [None, None, None]
    throttled = codes[3]
    assert throttled["code"] == "RATE_LIMITED"
    assert throttled["retryable"] is True
    assert throttled["retryAfter"] > 0


async def test_login_is_throttled_per_client_address(factory: Factory, settings: Settings) -> None:
    tight = settings.model_copy(update={"login_address_burst": 2, "login_address_per_minute": 0.5})
    async with app_client(tight) as http:
        outcomes = []
        for _ in range(3):
            body = await gql(
                http, LOGIN, {"email": f"{uuid.uuid4().hex}@example.com", "password": "x" * 12}
            )
            outcomes.append(body.get("errors", [{}])[0].get("extensions", {}).get("code"))
    assert outcomes == [None, None, "RATE_LIMITED"]


async def test_tokens_signed_by_a_retired_key_or_unknown_kid_are_refused(
    factory: Factory, settings: Settings
) -> None:
    """Key rotation: a token signed by k1 keeps working while k1 is in the ring after k2
    becomes active, and stops when k1 is dropped. Unknown kid, alg=none and a wrong
    audience are refused."""
    tenant = await factory.tenant(shops=0)
    k1, k2 = "a" * 64, "b" * 64
    old = settings.model_copy(update={"jwt_keys": {"k1": k1}, "jwt_active_kid": "k1"})
    both = settings.model_copy(update={"jwt_keys": {"k1": k1, "k2": k2}, "jwt_active_kid": "k2"})
    new_only = settings.model_copy(update={"jwt_keys": {"k2": k2}, "jwt_active_kid": "k2"})
    token = await factory.token_for(tenant.admin, settings=old)
    async with app_client(both) as http:
        assert "errors" not in await gql(http, ME, token=token)
    async with app_client(new_only) as http:
        assert (await gql(http, ME, token=token))["errors"][0]["extensions"]["code"] == (
            "UNAUTHENTICATED"
        )
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = [
            jwt.encode(claims, k2, algorithm="HS256", headers={"kid": "k9"}),
            jwt.encode(claims, None, algorithm="none", headers={"kid": "k2"}),
            jwt.encode({**claims, "aud": "other"}, k2, algorithm="HS256", headers={"kid": "k2"}),
            jwt.encode({**claims, "iss": "other"}, k2, algorithm="HS256", headers={"kid": "k2"}),
            jwt.encode(
                {**claims, "nbf": claims["exp"]}, k2, algorithm="HS256", headers={"kid": "k2"}
            ),
            jwt.encode(claims, k2, algorithm="HS512", headers={"kid": "k2"}),
        ]
        for bad in forged:
            body = await gql(http, ME, token=bad)
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", bad
        good = jwt.encode(claims, k2, algorithm="HS256", headers={"kid": "k2"})
        assert "errors" not in await gql(http, ME, token=good)
