"""Live view on one worker (memory://): real uvicorn, real WebSocket clients.

Events arrive in commit order with versioned envelopes; scope holds per organization and shop
even when a subscriber asks for more; sockets authenticate in connection_init; expired tokens end
subscriptions; slow consumers are cut off while others keep receiving; a client disconnect ends
the server-side subscription.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from config import Settings
from models.identity import Role
from tests.factories import Factory, tx
from tests.live_flow import (
    INVENTORY_CHANGED,
    TRANSACTIONS_INGESTED,
    field_of,
    ingest,
    next_seqs,
    revoked_key_subscription,
    warm_up,
)
from tests.live_support import LiveClient, clients
from tests.servers import ApiServer, api_server, wait_until
from tests.tls_support import nginx, render

QUEUE_SIZE = 8
REAUTH_SECONDS = 1


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ApiServer]:
    with api_server(
        settings, live_queue_size=QUEUE_SIZE, live_reauth_seconds=REAUTH_SECONDS
    ) as api:
        yield api


def live_subscribers(server: ApiServer) -> int:
    return httpx.get(f"{server.http_url}/healthz", timeout=5).json()["liveSubscribers"]


async def test_ingest_events_arrive_in_order_with_versioned_envelopes(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant()
    auth = {"authorization": f"Bearer {tenant.admin_token}"}
    inv = await LiveClient.open(server.ws_url, auth)
    txs = await LiveClient.open(server.ws_url, auth)
    async with clients(inv, txs):
        await inv.subscribe(INVENTORY_CHANGED)
        await txs.subscribe(TRANSACTIONS_INGESTED)
        position = await warm_up(server.http_url, tenant, [inv, txs])

        machine = tenant.machine_id
        batches = [
            [tx(s, "REPLENISHMENT", [(1000, 10), (200, 20)]) for s in next_seqs(machine)]
            + [tx(s, "WITHDRAWAL", [(1000, 2)]) for s in next_seqs(machine)],
            [tx(s, "DEPOSIT", [(5000, 1)]) for s in next_seqs(machine, 3)],
            [tx(s, "COLLECTION", [(200, 5)]) for s in next_seqs(machine)],
        ]
        results = [await ingest(server.http_url, tenant, records=b) for b in batches]
        # A replay of the last request commits nothing and must publish nothing.
        replay_key = "replay-me"
        extra = [tx(s, "DEPOSIT", [(500, 1)]) for s in next_seqs(machine)]
        first = await ingest(server.http_url, tenant, records=extra, idempotency_key=replay_key)
        again = await ingest(server.http_url, tenant, records=extra, idempotency_key=replay_key)
        assert again["replayed"] is True
        after = await ingest(server.http_url, tenant)
        expected = [*results, first, after]

        tx_events = [field_of(await txs.next_data()) for _ in expected]
        inv_events = [field_of(await inv.next_data()) for _ in expected]

    sizes = [len(b) for b in batches] + [1, 1]
    for event, result, size in zip(tx_events, expected, sizes, strict=True):
        assert event["type"] == "TRANSACTIONS_INGESTED"
        assert event["version"] == 1
        assert event["organizationId"] == str(tenant.org.id)
        assert event["shopId"] == str(tenant.shops[0].id)
        assert event["machineId"] == machine
        assert event["sequence"] == event["chainTo"] == result["chainPosition"]
        assert event["chainFrom"] == position + 1
        assert event["accepted"] == size
        position = event["chainTo"]
    assert len({e["eventId"] for e in tx_events}) == len(tx_events)
    assert tx_events[0]["byType"] == [
        {"type": "REPLENISHMENT", "count": 1, "amount": 10 * 1000 + 20 * 200},
        {"type": "WITHDRAWAL", "count": 1, "amount": 2 * 1000},
    ]
    assert tx_events[1]["byType"] == [{"type": "DEPOSIT", "count": 3, "amount": 15000}]

    assert [e["sequence"] for e in inv_events] == [r["chainPosition"] for r in expected]
    assert all(e["type"] == "INVENTORY_CHANGED" for e in inv_events)
    last = inv_events[-1]
    counts = {(d["kind"], d["denomination"]): d["count"] for d in last["denominations"]}
    assert last["totalValue"] == sum(d["value"] for d in last["denominations"])
    assert last["totalValue"] == tx_events[-1]["inventoryValue"]
    assert counts[("NOTE", 5000)] == 3
    assert counts[("NOTE", 500)] == 1


async def test_other_organization_and_other_shop_receive_nothing(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant(shops=2)
    other = await factory.tenant()
    _, manager_token = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    shop1_key = await factory.api_key(tenant, shop_index=1)
    shop0, shop1 = (str(s.id) for s in tenant.shops)
    machine0, machine1 = (str(m.id) for m in tenant.machines)

    manager = await LiveClient.open(server.ws_url, {"authorization": f"Bearer {manager_token}"})
    outsider = await LiveClient.open(server.ws_url, {"token": other.admin_token})
    async with clients(manager, outsider):
        # The manager asks for both shops (and shop 1's machine) but may only see shop 0.
        await manager.subscribe(
            TRANSACTIONS_INGESTED, {"shopIds": [shop0, shop1], "machineIds": None}
        )
        await outsider.subscribe(TRANSACTIONS_INGESTED)
        await warm_up(server.http_url, tenant, [manager])
        await warm_up(server.http_url, other, [outsider])

        hidden = await ingest(server.http_url, tenant, machine_id=machine1, api_key=shop1_key)
        visible = await ingest(server.http_url, tenant, machine_id=machine0)
        own = await ingest(server.http_url, other)

        # Same organization channel, delivered in publication order: shop 1's event would
        # arrive before shop 0's if scope filtering let it through.
        event = field_of(await manager.next_data())
        assert (event["shopId"], event["machineId"]) == (shop0, machine0)
        assert event["sequence"] == visible["chainPosition"]
        event = field_of(await outsider.next_data())
        assert event["organizationId"] == str(other.org.id)
        assert event["sequence"] == own["chainPosition"]
        assert hidden["accepted"] == 1

        # Asking only for the hidden shop yields a subscription that never sees it either.
        await manager.subscribe(TRANSACTIONS_INGESTED, {"shopIds": [shop1]}, op_id="shop1")
        await ingest(server.http_url, tenant, machine_id=machine1, api_key=shop1_key)
        visible = await ingest(server.http_url, tenant, machine_id=machine0)
        message = await manager.receive(10)
        assert message["id"] != "shop1", message
        assert field_of(message["payload"]["data"])["sequence"] == visible["chainPosition"]


WITH_DENOMINATIONS = """
subscription Inv($withDenominations: Boolean!) {
  inventoryChanged {
    sequence totalValue
    denominations @include(if: $withDenominations) { denomination count }
  }
}
"""


async def test_subscribers_sharing_a_query_each_get_their_own_operation_id(
    server: ApiServer, factory: Factory
) -> None:
    """The encoded event is shared between subscribers with the same query and variables; the
    operation id and the variables' effect stay per subscriber."""
    tenant = await factory.tenant()
    auth = {"token": tenant.admin_token}
    a, b, c = [await LiveClient.open(server.ws_url, auth) for _ in range(3)]
    async with clients(a, b, c):
        await a.subscribe(WITH_DENOMINATIONS, {"withDenominations": True}, op_id="a1")
        await b.subscribe(WITH_DENOMINATIONS, {"withDenominations": True}, op_id="b1")
        await c.subscribe(WITH_DENOMINATIONS, {"withDenominations": False}, op_id="c1")
        await warm_up(server.http_url, tenant, [a, b, c])
        for _ in range(3):
            result = await ingest(server.http_url, tenant)
            messages = [await client.receive(10) for client in (a, b, c)]
            assert [m["id"] for m in messages] == ["a1", "b1", "c1"]
            events = [field_of(m["payload"]["data"]) for m in messages]
            assert {e["sequence"] for e in events} == {result["chainPosition"]}
            assert events[0] == events[1]
            assert len(events[0]["denominations"]) > 0
            assert "denominations" not in events[2]
            assert events[2]["totalValue"] == events[0]["totalValue"]


async def close_after_init(server: ApiServer, params: dict | None) -> int | None:
    """Open a socket, send connection_init with `params`, return the close code received."""
    async with connect(server.ws_url, subprotocols=["graphql-transport-ws"], proxy=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params or {}}))
        code, _ = await LiveClient(ws).close_code(timeout=10)
        return code


async def test_websocket_authenticates_in_connection_init(
    server: ApiServer, factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    assert await close_after_init(server, None) == 4403
    assert await close_after_init(server, {"authorization": "Bearer not-a-jwt"}) == 4403
    assert await close_after_init(server, {"apiKey": tenant.api_key[:-2] + "xx"}) == 4403
    expired = await factory.token_for_ttl(tenant.admin, seconds=-120)
    assert await close_after_init(server, {"token": expired}) == 4403

    # Subscribing before connection_ack is refused by the protocol (4401).
    async with connect(server.ws_url, subprotocols=["graphql-transport-ws"], proxy=None) as ws:
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": INVENTORY_CHANGED}})
        )
        code, _ = await LiveClient(ws).close_code(timeout=10)
        assert code == 4401

    # An API key authenticates too, and sees its shop's events.
    keyed = await LiveClient.open(server.ws_url, {"apiKey": tenant.api_key})
    async with clients(keyed):
        await keyed.subscribe(INVENTORY_CHANGED)
        await warm_up(server.http_url, tenant, [keyed])


async def test_subscription_ends_when_the_token_expires(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant()
    short = await factory.token_for_ttl(tenant.admin, seconds=5)
    client = await LiveClient.open(server.ws_url, {"authorization": f"Bearer {short}"})
    async with clients(client):
        op = await client.subscribe(INVENTORY_CHANGED)
        await warm_up(server.http_url, tenant, [client])
        message = await client.receive(timeout=15)
        assert message["type"] == "next"
        assert message["id"] == op
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "expired" in error["message"]
        assert (await client.receive(timeout=5)) == {"id": op, "type": "complete"}
        # A new subscription on the same (expired) connection is refused as well.
        op2 = await client.subscribe(INVENTORY_CHANGED)
        message = await client.receive(timeout=5)
        assert message["id"] == op2
        assert message["type"] in {"error", "next"}
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "expired" in errors[0]["message"]


def small_receive_buffer_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive window, so an unread socket backs up quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_slow_consumer_is_disconnected_while_others_keep_receiving(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant()
    auth = {"token": tenant.admin_token}
    fast = await LiveClient.open(server.ws_url, auth)
    slow = await LiveClient.open(
        server.ws_url,
        auth,
        sock=small_receive_buffer_socket(server.port),
        compression=None,
        max_queue=1,
    )
    async with clients(fast, slow):
        for _ in range(16):
            await slow.subscribe(INVENTORY_CHANGED)
        await fast.subscribe(INVENTORY_CHANGED)
        await warm_up(server.http_url, tenant, [fast])
        # The slow client reads nothing from here on; keep ingesting until the server gives up
        # on it. The fast subscriber must get every event meanwhile.
        for _ in range(2000):
            result = await ingest(server.http_url, tenant)
            event = field_of(await fast.next_data())
            assert event["sequence"] == result["chainPosition"]
            if "disconnecting slow consumer" in server.log():
                break
        else:
            raise AssertionError("the slow consumer was never disconnected")
        # The slow client reads again from now on: the server gives up on a socket that does
        # not take its close frame within its close timeout, and then the code never arrives.
        closing = asyncio.create_task(slow.close_code(timeout=30))
        for _ in range(3):
            result = await ingest(server.http_url, tenant)
            assert field_of(await fast.next_data())["sequence"] == result["chainPosition"]

        code, reason = await closing
        assert code == 4008
        assert reason is not None
        assert "slow consumer" in reason


async def test_client_disconnect_ends_the_server_side_subscription(
    server: ApiServer, factory: Factory
) -> None:
    tenant = await factory.tenant()
    wait_until(lambda: live_subscribers(server) == 0, timeout=20, what="earlier sockets to end")
    client = await LiveClient.open(server.ws_url, {"token": tenant.admin_token})
    await client.subscribe(INVENTORY_CHANGED)
    await client.subscribe(TRANSACTIONS_INGESTED)
    wait_until(lambda: live_subscribers(server) == 2, timeout=10, what="two live subscribers")
    await client.ws.send(json.dumps({"id": "nope", "type": "complete"}))
    await client.close()
    wait_until(lambda: live_subscribers(server) == 0, timeout=10, what="subscribers to end")


async def test_revoking_an_api_key_ends_its_subscriptions(
    server: ApiServer, factory: Factory, settings: Settings
) -> None:
    async with revoked_key_subscription(server, factory) as (_, client, op):
        # The credential is checked again every LIVE_REAUTH_SECONDS (1 s here).
        message = await client.receive(timeout=10 * REAUTH_SECONDS)
        assert message["id"] == op
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_subscriptions_work_through_the_nginx_config(
    server: ApiServer, factory: Factory, tmp_path: Path
) -> None:
    """nginx/cashcc.conf forwards the WebSocket upgrade and the graphql-transport-ws protocol
    (over TLS, as in production); the batch goes to the API directly."""
    proxy = render(tmp_path, upstream_port=server.port)
    with nginx(tmp_path, proxy):
        tenant = await factory.tenant()
        client = await LiveClient.open(
            f"wss://127.0.0.1:{proxy.https_port}/graphql",
            {"token": tenant.admin_token},
            ssl=proxy.ssl_context(),
        )
        async with clients(client):
            await client.subscribe(INVENTORY_CHANGED)
            await warm_up(server.http_url, tenant, [client])
            result = await ingest(server.http_url, tenant)
            assert field_of(await client.next_data())["sequence"] == result["chainPosition"]
