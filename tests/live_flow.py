"""Shared steps of the live-view tests: subscription documents, ingest over real HTTP, and the
warm-up that proves a subscription is live before the test's own events are sent."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

from tests.factories import INGEST, Factory, Tenant, ingest_variables, tx
from tests.live_support import LiveClient, clients, graphql_post
from tests.servers import ApiServer

INVENTORY_CHANGED = """
subscription Inv($shopIds: [ID!], $machineIds: [ID!]) {
  inventoryChanged(shopIds: $shopIds, machineIds: $machineIds) {
    version eventId type organizationId shopId machineId sequence publishedAt gapReason
    currency totalValue totalPieces
    denominations { kind denomination count value status }
  }
}
"""

TRANSACTIONS_INGESTED = """
subscription Tx($shopIds: [ID!], $machineIds: [ID!]) {
  transactionsIngested(shopIds: $shopIds, machineIds: $machineIds) {
    version eventId type organizationId shopId machineId sequence gapReason
    batchId accepted chainFrom chainTo firstSeq lastSeq currency
    byType { type count amount } inventoryValue inventoryPieces
  }
}
"""

# Local sequence numbers for ingests made by these tests, unique per machine.
_seqs: dict[str, itertools.count] = {}


def next_seqs(machine_id: str, n: int = 1) -> list[int]:
    counter = _seqs.setdefault(machine_id, itertools.count(1))
    return [next(counter) for _ in range(n)]


async def ingest(
    base_url: str,
    tenant: Tenant,
    *,
    machine_id: str | None = None,
    api_key: str | None = None,
    records: list[dict[str, Any]] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """One ingestTransactions call over real HTTP; returns the payload (no user errors)."""
    machine = machine_id or tenant.machine_id
    if records is None:
        records = [tx(s, "DEPOSIT", [(1000, 1), (200, 3)]) for s in next_seqs(machine)]
    variables = ingest_variables(machine, records, idempotency_key=idempotency_key)
    data = await graphql_post(base_url, INGEST, variables, api_key=api_key or tenant.api_key)
    payload = data["ingestTransactions"]
    assert payload["userErrors"] == [], payload
    return payload


def field_of(data: dict[str, Any]) -> dict[str, Any]:
    (value,) = data.values()
    return value


async def warm_up(
    base_url: str,
    tenant: Tenant,
    clients: list[LiveClient],
    *,
    machine_id: str | None = None,
    api_key: str | None = None,
    attempts: int = 50,
) -> int:
    """Ingest until every client has received an event (a subscription is live only once the
    server has run it, which the protocol does not acknowledge). Drains the warm-up events and
    returns the last chain position, so the test's own events follow it."""
    pending = set(range(len(clients)))
    seen = [0] * len(clients)
    last = 0
    for _ in range(attempts):
        payload = await ingest(base_url, tenant, machine_id=machine_id, api_key=api_key)
        last = payload["chainPosition"]
        for i in list(pending):
            try:
                event = field_of(await clients[i].next_data(timeout=0.5))
            except TimeoutError:
                continue
            if event["sequence"] is not None:
                seen[i] = event["sequence"]
                pending.discard(i)
        if not pending:
            break
    else:
        raise AssertionError(f"subscriptions never became live: {sorted(pending)}")
    for client, position in zip(clients, seen, strict=True):
        if position < last:
            await drain_until(client, last)
    return last


async def drain_until(client: LiveClient, position: int, timeout: float = 10.0) -> None:
    """Read events until one with `sequence >= position` has been seen."""
    async with asyncio.timeout(timeout):
        while True:
            event = field_of(await client.next_data(timeout))
            if event["sequence"] is not None and event["sequence"] >= position:
                return


async def revoke_key(http_url: str, tenant: Tenant, key_id: object) -> None:
    """The tenant's admin revokes an API key (over HTTP, as a dashboard would)."""
    data = await graphql_post(
        http_url,
        "mutation R($id: ID!) { revokeApiKey(id: $id) { userErrors { message } } }",
        {"id": str(key_id)},
        token=tenant.admin_token,
    )
    assert data["revokeApiKey"]["userErrors"] == []


@contextlib.asynccontextmanager
async def revoked_key_subscription(
    server: ApiServer, factory: Factory
) -> AsyncIterator[tuple[Tenant, LiveClient, str]]:
    """A new tenant's dashboard API key with a live TRANSACTIONS_INGESTED subscription, just
    revoked by the admin: yields the tenant, the client (closed when the block ends) and the
    subscription's id."""
    tenant = await factory.tenant()
    issued = await factory.issue_key(tenant, name="dashboard")
    client = await LiveClient.open(server.ws_url, {"apiKey": issued.secret})
    async with clients(client):
        op = await client.subscribe(TRANSACTIONS_INGESTED)
        await warm_up(server.http_url, tenant, [client])
        await revoke_key(server.http_url, tenant, issued.api_key.id)
        yield tenant, client, op
