"""Live view across two uvicorn workers sharing a real redis-server.

These tests need the `redis-server` binary (CI installs the Debian package); without it they
fail with a message saying so rather than being skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config import Settings
from tests.factories import Factory
from tests.live_flow import INVENTORY_CHANGED, TRANSACTIONS_INGESTED, field_of, ingest, warm_up
from tests.live_support import LiveClient, RedisServer, clients
from tests.servers import ApiServer, server_env


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def workers(settings: Settings, redis_server: RedisServer) -> Iterator[tuple[ApiServer, ApiServer]]:
    assert settings.mongodb_uri
    env = server_env(
        mongodb_uri=settings.mongodb_uri,
        mongodb_db=settings.mongodb_db,
        broadcast_url=redis_server.url,
    )
    a, b = ApiServer(env), ApiServer(env)
    a.start()
    try:
        b.start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


async def test_first_subscriber_on_a_fresh_worker_receives_ingest_from_the_other_worker(
    workers: tuple[ApiServer, ApiServer], factory: Factory
) -> None:
    """Also covers broadcaster 0.3.1's Redis bug: the first subscription after connect()."""
    a, b = workers
    tenant = await factory.tenant()
    client = await LiveClient.open(b.ws_url, {"token": tenant.admin_token})
    async with clients(client):
        await client.subscribe(TRANSACTIONS_INGESTED)
        position = await warm_up(a.http_url, tenant, [client])
        results = [await ingest(a.http_url, tenant) for _ in range(3)]
        events = [field_of(await client.next_data()) for _ in results]
    assert [e["sequence"] for e in events] == [r["chainPosition"] for r in results]
    assert events[0]["chainFrom"] == position + 1
    assert {e["organizationId"] for e in events} == {str(tenant.org.id)}


async def test_redis_restart_reports_a_gap_and_delivery_resumes(
    workers: tuple[ApiServer, ApiServer], redis_server: RedisServer, factory: Factory
) -> None:
    a, b = workers
    tenant = await factory.tenant()
    client = await LiveClient.open(b.ws_url, {"token": tenant.admin_token})
    async with clients(client):
        await client.subscribe(INVENTORY_CHANGED)
        await warm_up(a.http_url, tenant, [client])
        before = await ingest(a.http_url, tenant)
        assert field_of(await client.next_data())["sequence"] == before["chainPosition"]

        redis_server.kill()
        # Ingest keeps working (the commit does not depend on the fan-out) while Redis is down.
        during = await ingest(a.http_url, tenant)
        assert during["accepted"] == 1
        redis_server.start()

        gap = field_of(await client.next_data(timeout=20))
        assert gap["type"] == "GAP"
        assert gap["organizationId"] == str(tenant.org.id)
        assert gap["machineId"] is None
        assert "missed" in gap["gapReason"]

        # Delivery resumes: the first ingest after the restart may race the publisher's
        # reconnect, so ingest until one arrives, then require strict order again.
        resumed = None
        for _ in range(50):
            result = await ingest(a.http_url, tenant)
            try:
                resumed = field_of(await client.next_data(timeout=1))
            except TimeoutError:
                continue
            assert resumed["sequence"] == result["chainPosition"]
            break
        assert resumed is not None, "delivery did not resume after the Redis restart"
        after = await ingest(a.http_url, tenant)
        assert field_of(await client.next_data())["sequence"] == after["chainPosition"]
