"""Two real uvicorn worker processes on one database: revocation, rate limits and the
security log must hold across processes (no per-process state decides correctness)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from config import Settings
from models.identity import Role
from tests.factories import PASSWORD, Factory, gql, gql_data, until_settled
from tests.identity_helpers import LOGIN
from tests.servers import uvicorn_server

PROBE = "{ organization { id } }"  # FORBIDDEN for a valid key, UNAUTHENTICATED otherwise
# Small buckets so the shared limits are visible within a few requests.
LOGIN_BURST = 10
LOGIN_RETRYABLE = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken userErrors { code retryable } }
}
"""
WORKER_ENV = {
    "API_KEY_RATE_BURST": "5",
    "API_KEY_RATE_PER_SECOND": "0.05",
    "LOGIN_ACCOUNT_BURST": str(LOGIN_BURST),
    "LOGIN_ACCOUNT_PER_MINUTE": "0.5",
    # All test traffic comes from 127.0.0.1: keep these workers from using up the address
    # bucket the in-process tests share.
    "LOGIN_ADDRESS_BURST": "1000",
}


@pytest.fixture(scope="module")
def workers(settings: Settings, database: object) -> Iterator[list[str]]:
    """Two `uvicorn graph.app:create_app --factory` processes on the test database."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(uvicorn_server(settings, extra_env=WORKER_ENV)) for _ in range(2)
        ]


async def key_works(http: httpx.AsyncClient, key: str) -> bool:
    """True when the key authenticated: FORBIDDEN (valid key, wrong operation) or
    RATE_LIMITED (the limit is only checked after the key authenticated)."""
    body = await gql(http, PROBE, api_key=key)
    code = body["errors"][0]["extensions"]["code"]
    assert code in {"FORBIDDEN", "RATE_LIMITED", "UNAUTHENTICATED"}, body
    return code != "UNAUTHENTICATED"


async def test_revoked_key_stops_on_the_other_worker_at_once(
    factory: Factory, workers: list[str]
) -> None:
    """Worker B keeps using a key while an admin revokes it through worker A. Every request
    B starts after A answered the revocation is refused (the bar is 1 s; with no key cache
    it is immediate), and the key did work on B before."""
    tenant = await factory.tenant()
    keys = await gql_data(factory.client, "{ apiKeys { id } }", token=tenant.admin_token)
    key_id = keys["apiKeys"][0]["id"]
    async with (
        httpx.AsyncClient(base_url=workers[0]) as a,
        httpx.AsyncClient(base_url=workers[1]) as b,
    ):
        assert await key_works(b, tenant.api_key)
        revoked_at: list[float] = []
        uses: list[tuple[float, bool]] = []

        async def keep_using() -> None:
            while not revoked_at or sum(1 for t, _ in uses if t >= revoked_at[0]) < 20:
                started = time.monotonic()
                uses.append((started, await key_works(b, tenant.api_key)))

        user = asyncio.create_task(keep_using())
        await asyncio.sleep(0)  # let the first use start before the revocation
        body = await gql_data(
            a,
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { status } } }",
            {"id": key_id},
            token=tenant.admin_token,
        )
        revoked_at.append(time.monotonic())
        assert body["revokeApiKey"]["apiKey"]["status"] == "REVOKED"
        await asyncio.wait_for(user, timeout=30)
    after = [ok for started, ok in uses if started >= revoked_at[0]]
    assert len(after) >= 20
    assert not any(after), "a worker accepted the key after the revocation was answered"


async def test_rate_limit_is_shared_by_both_workers(factory: Factory, workers: list[str]) -> None:
    """Burst 5 for the key across the whole deployment, not 5 per worker."""
    tenant = await factory.tenant()
    async with httpx.AsyncClient() as http:
        codes = []
        for i in range(10):
            body = await gql_raw(http, workers[i % 2], tenant.api_key)
            codes.append(body["errors"][0]["extensions"]["code"])
    assert codes.count("FORBIDDEN") == 5, codes
    assert codes.count("RATE_LIMITED") == 5, codes


async def gql_raw(http: httpx.AsyncClient, base: str, key: str) -> dict:
    response = await http.post(f"{base}/graphql", json={"query": PROBE}, headers={"X-API-Key": key})
    return response.json()


async def test_concurrent_logins_on_both_workers_keep_one_security_chain(
    factory: Factory, workers: list[str]
) -> None:
    tenant = await factory.tenant(shops=0)
    # Four accounts of one organization (one chain), each with a failed and a good login:
    # retries of a busy log are real attempts and cost tokens of the account's login bucket,
    # so eight attempts on one account could run into the throttle the next test checks.
    others = [await factory.user(tenant, Role.AUDITOR, []) for _ in range(3)]
    emails = [tenant.admin.email, *(user.email for user, _ in others)]
    # argon2 takes most of a second per login on a small machine; eight at once need time.
    async with httpx.AsyncClient(timeout=60) as http:

        async def attempt(i: int) -> str:
            """One login as a client makes it: an error the API marks retryable (the security
            log busy under contention) is retried; the settled outcome is returned."""
            password = PASSWORD if i % 2 else "wrong-password-123"

            async def login() -> dict:
                response = await http.post(
                    f"{workers[i % 2]}/graphql",
                    json={
                        "query": LOGIN_RETRYABLE,
                        "variables": {"email": emails[i // 2], "password": password},
                    },
                )
                body = response.json()
                assert response.status_code == 200, body
                assert "errors" not in body, body
                return body["data"]["login"]

            payload = await until_settled(login, attempts=5)
            return "ok" if payload["accessToken"] else payload["userErrors"][0]["code"]

        outcomes = await asyncio.gather(*[attempt(i) for i in range(8)])
    assert outcomes == ["INVALID_CREDENTIALS", "ok"] * 4, outcomes
    verified = await gql_data(
        factory.client,
        "{ verifySecurityLog { ok checked } securityEvents(first: 100) "
        "{ edges { node { action } } } }",
        token=tenant.admin_token,
    )
    assert verified["verifySecurityLog"]["ok"] is True
    actions = [e["node"]["action"] for e in verified["securityEvents"]["edges"]]
    assert actions.count("LOGIN_SUCCEEDED") == 4
    assert actions.count("LOGIN_FAILED") == 4


async def test_login_throttle_per_account_is_shared_by_both_workers(
    factory: Factory, workers: list[str]
) -> None:
    tenant = await factory.tenant(shops=0)
    async with httpx.AsyncClient() as http:
        codes = []
        for i in range(LOGIN_BURST + 1):
            response = await http.post(
                f"{workers[i % 2]}/graphql",
                json={
                    "query": LOGIN,
                    "variables": {"email": tenant.admin.email, "password": "wrong-password-1"},
                },
            )
            body = response.json()
            codes.append(body["errors"][0]["extensions"]["code"] if "errors" in body else None)
    assert codes[:LOGIN_BURST] == [None] * LOGIN_BURST
    assert codes[LOGIN_BURST] == "RATE_LIMITED"
