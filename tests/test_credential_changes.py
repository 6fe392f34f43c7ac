"""Every operation type on every transport follows the current state of its credential:
revocation, expiry, deactivation, logout and a role change stop queries and mutations on HTTP
and on an already open WebSocket, and end open subscriptions, within the revocation bound.

Subscriptions exist only over WebSocket (an HTTP POST of one is refused: test_hostile_input),
and an API key may call no query, so the matrix has no such cells.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from graph.ws_auth import REVOCATION_BOUND_SECONDS
from models.identity import Role
from models.organization import utcnow
from resolvers.identity.sessions import IssuedSession, start_session
from tests.factories import Factory, Tenant, gql_data, tx
from tests.live_flow import ingest
from tests.live_support import LiveClient, clients
from tests.servers import ApiServer, api_server

SHORT_TTL_SECONDS = 2
# The bound, the short lifetime and the server's leeway, plus room for a loaded CI machine; a
# credential that is never read again fails.
REFUSED_WITHIN_SECONDS = REVOCATION_BOUND_SECONDS + SHORT_TTL_SECONDS + 1 + 5
QUERY = "{ users { id } }"
SUBSCRIPTION = "subscription { inventoryChanged { eventId } }"


@pytest.fixture(scope="module")
def server(settings) -> Iterator[ApiServer]:
    # A one-second leeway keeps the expiry cases short (expired tokens work for the leeway).
    with api_server(settings, jwt_leeway_seconds=1) as api:
        yield api


def create_shop() -> str:
    code = uuid.uuid4().hex[:8]
    return f'mutation {{ createShop(input: {{name: "n", code: "{code}"}}) {{ shop {{ id }} }} }}'


def ingest_one(tenant: Tenant) -> str:
    record = tx(int(time.time() * 1000) % 10**9)
    return (
        f'mutation {{ ingestTransactions(input: {{machineId: "{tenant.machine_id}", '
        f'idempotencyKey: "{uuid.uuid4().hex}", transactions: [{{seq: {record["seq"]}, '
        f'type: DEPOSIT, occurredAt: "{record["occurredAt"]}", currency: "EUR", '
        "lines: [{denomination: 1000, count: 1}]}]}) { accepted } }"
    )


def first_code(errors: list[dict[str, Any]] | None) -> str | None:
    return errors[0]["extensions"]["code"] if errors else None


class Caller:
    """Runs operations over HTTP, or over one WebSocket opened before the credential changes
    and kept for the whole test."""

    def __init__(self, server: ApiServer, credential: dict[str, str], transport: str) -> None:
        self.server, self.credential, self.transport = server, credential, transport
        self.ws: LiveClient | None = None

    @property
    def params(self) -> dict[str, str]:
        if "api_key" in self.credential:
            return {"apiKey": self.credential["api_key"]}
        return {"authorization": f"Bearer {self.credential['token']}"}

    async def __aenter__(self) -> Caller:
        if self.transport == "ws":
            self.ws = await LiveClient.open(self.server.ws_url, self.params)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, query: str) -> str | None:
        """None when the query or mutation ran, else the error code it got."""
        if self.ws is None:
            headers = {k.replace("apiKey", "X-API-Key"): v for k, v in self.params.items()}
            async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
                response = await http.post(
                    self.server.graphql_url, json={"query": query}, headers=headers
                )
            return first_code(response.json().get("errors"))
        op = await self.ws.subscribe(query)
        message = await self.ws.receive(timeout=30)
        assert message.get("id") == op, message
        if message["type"] == "error":
            return first_code(message["payload"])
        await self.ws.receive(timeout=30)  # the operation's `complete`
        return first_code(message["payload"].get("errors"))


async def refused_within(caller: Caller, make_query: Callable[[], str], seconds: float) -> str:
    """Repeat the operation until it is refused; the code it was refused with."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code = await caller.run(make_query())
        if code is not None:
            return code
    raise AssertionError(f"still allowed {seconds} s after the credential changed")


async def subscription_ended_within(
    server: ApiServer, tenant: Tenant, params: dict[str, str], change: Callable, seconds: float
) -> str:
    """Open a subscription, see one event, change the credential, keep events flowing: the
    code the subscription ends with."""
    client = await LiveClient.open(server.ws_url, params)
    async with clients(client):
        await client.subscribe(SUBSCRIPTION)
        await ingest(server.http_url, tenant)
        await client.next_data(timeout=30)
        await change()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await ingest(server.http_url, tenant)
            message = await client.receive(timeout=30)
            if message["type"] == "error":
                return first_code(message["payload"]) or "?"
            errors = message["type"] == "next" and message["payload"].get("errors")
            if errors:
                return first_code(errors) or "?"
        raise AssertionError(f"subscription still delivers {seconds} s after the change")


async def as_admin(factory: Factory, tenant: Tenant, query: str, variables: dict) -> None:
    data = await gql_data(factory.client, query, variables, token=tenant.admin_token)
    payload = next(iter(data.values()))
    assert not payload.get("userErrors"), payload


Change = Callable[[Factory, Tenant, Any, IssuedSession], Awaitable[None]]


async def deactivate(factory: Factory, tenant: Tenant, user: Any, session: IssuedSession) -> None:
    await as_admin(
        factory,
        tenant,
        "mutation($id: ID!) { deactivateUser(id: $id) { userErrors { message } } }",
        {"id": str(user.id)},
    )


async def demote(factory: Factory, tenant: Tenant, user: Any, session: IssuedSession) -> None:
    await as_admin(
        factory,
        tenant,
        "mutation($id: ID!, $shop: ID!) { setUserAccess(id: $id, role: EMPLOYEE, "
        "shopIds: [$shop]) { userErrors { message } } }",
        {"id": str(user.id), "shop": str(tenant.shops[0].id)},
    )


async def log_out(factory: Factory, tenant: Tenant, user: Any, session: IssuedSession) -> None:
    await gql_data(
        factory.client,
        "mutation($t: String!) { logout(refreshToken: $t) { ok } }",
        {"t": session.refresh_token},
    )


async def let_expire(factory: Factory, tenant: Tenant, user: Any, session: IssuedSession) -> None:
    """Nothing to do: the session's access token lives SHORT_TTL_SECONDS."""


USER_CHANGES: dict[str, tuple[Change, str]] = {
    "deactivated": (deactivate, "UNAUTHENTICATED"),
    "demoted to employee": (demote, "FORBIDDEN"),
    "logged out": (log_out, "UNAUTHENTICATED"),
    "expired": (let_expire, "UNAUTHENTICATED"),
}


async def user_session(factory: Factory, tenant: Tenant, change: str) -> tuple[Any, IssuedSession]:
    user, _ = await factory.user(tenant, Role.ORG_ADMIN, [])
    ttl = SHORT_TTL_SECONDS if change == "expired" else factory.settings.access_token_ttl_seconds
    short = factory.settings.model_copy(update={"access_token_ttl_seconds": ttl})
    return user, await start_session(user, settings=short)


@pytest.mark.parametrize(
    ("operation", "transport"),
    [("query", "http"), ("query", "ws"), ("mutation", "http"), ("mutation", "ws")],
)
@pytest.mark.parametrize("change", list(USER_CHANGES))
async def test_a_users_changed_credential_stops_queries_and_mutations(
    server: ApiServer, factory: Factory, change: str, operation: str, transport: str
) -> None:
    tenant = await factory.tenant()
    user, session = await user_session(factory, tenant, change)
    make = (lambda: QUERY) if operation == "query" else create_shop
    async with Caller(server, {"token": session.access_token}, transport) as caller:
        assert await caller.run(make()) is None, "allowed before the change"
        apply, expected = USER_CHANGES[change]
        await apply(factory, tenant, user, session)
        assert await refused_within(caller, make, REFUSED_WITHIN_SECONDS) == expected


@pytest.mark.parametrize("change", list(USER_CHANGES))
async def test_a_users_changed_credential_ends_open_subscriptions(
    server: ApiServer, factory: Factory, change: str
) -> None:
    tenant = await factory.tenant()
    user, session = await user_session(factory, tenant, change)
    apply, expected = USER_CHANGES[change]
    code = await subscription_ended_within(
        server,
        tenant,
        {"authorization": f"Bearer {session.access_token}"},
        lambda: apply(factory, tenant, user, session),
        REFUSED_WITHIN_SECONDS,
    )
    assert code == expected


async def revoke(factory: Factory, tenant: Tenant, key_id: object) -> None:
    await as_admin(
        factory,
        tenant,
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { message } } }",
        {"id": str(key_id)},
    )


@pytest.mark.parametrize("transport", ["http", "ws"])
@pytest.mark.parametrize("change", ["revoked", "expired"])
async def test_a_keys_changed_credential_stops_its_mutations(
    server: ApiServer, factory: Factory, change: str, transport: str
) -> None:
    tenant = await factory.tenant()
    lifetime = timedelta(seconds=SHORT_TTL_SECONDS if change == "expired" else 3600)
    issued = await factory.issue_key(tenant, expires_at=utcnow() + lifetime)
    async with Caller(server, {"api_key": issued.secret}, transport) as caller:
        assert await caller.run(ingest_one(tenant)) is None, "allowed before the change"
        if change == "revoked":
            await revoke(factory, tenant, issued.api_key.id)
        code = await refused_within(caller, lambda: ingest_one(tenant), REFUSED_WITHIN_SECONDS)
    assert code == "UNAUTHENTICATED"


@pytest.mark.parametrize("change", ["revoked", "expired"])
async def test_a_keys_changed_credential_ends_its_open_subscriptions(
    server: ApiServer, factory: Factory, change: str
) -> None:
    tenant = await factory.tenant()
    lifetime = timedelta(seconds=SHORT_TTL_SECONDS + 2 if change == "expired" else 3600)
    issued = await factory.issue_key(tenant, expires_at=utcnow() + lifetime)

    async def apply() -> None:
        if change == "revoked":
            await revoke(factory, tenant, issued.api_key.id)

    code = await subscription_ended_within(
        server, tenant, {"apiKey": issued.secret}, apply, REFUSED_WITHIN_SECONDS + 2
    )
    assert code == "UNAUTHENTICATED"


async def test_the_rate_limit_holds_on_an_open_websocket(settings, factory: Factory) -> None:
    """A key whose bucket is empty once ran 60 ingests over one socket."""
    tenant = await factory.tenant()
    with api_server(settings, api_key_rate_burst=3, api_key_rate_per_second=0.01) as tight:
        async with Caller(tight, {"api_key": tenant.api_key}, "ws") as caller:
            codes = [await caller.run(ingest_one(tenant)) for _ in range(6)]
    assert codes == [None, None, None, "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]
