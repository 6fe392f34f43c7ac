"""Delivery workers in real processes (uvicorn running the lifespan's worker loop, and this
test process) against a real receiver: two workers send each delivery once; a worker killed
while it sends loses nothing, another worker leaves the delivery alone while the lease lives,
and the retry carries the same id and bytes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from config import Settings
from models.webhooks import WebhookEvent
from resolvers.webhooks.worker import deliver_due
from tests.factories import Factory, Tenant
from tests.servers import ApiServer, eventually, server_env
from tests.webhook_support import (
    OK,
    ManualClock,
    enqueue,
    private_settings,
    receiver,
    register,
    stored_deliveries,
)


@pytest.fixture(scope="module")
def worker(settings: Settings, database: Any) -> Iterator[ApiServer]:
    """An API process whose lifespan runs the delivery worker every 50 ms (a test that
    kills it leaves it to the next test to start again)."""
    assert settings.mongodb_uri
    env = server_env(
        mongodb_uri=settings.mongodb_uri,
        mongodb_db=settings.mongodb_db,
        webhook_delivery_interval_seconds=0.05,
        webhook_allow_private="true",
    )
    server = ApiServer(env)
    try:
        yield server
    finally:
        server.stop()


def running(server: ApiServer) -> ApiServer:
    if server.process is None or server.process.poll() is not None:
        server.start()
    return server


@contextlib.asynccontextmanager
async def worker_here(settings: Settings, tenant: Tenant) -> AsyncIterator[None]:
    """A second worker, in this process, polling like the lifespan's loop."""

    async def loop() -> None:
        while True:
            await deliver_due(settings=settings, org_id=tenant.org.id)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def rows_where(tenant: Tenant, **wanted: Any) -> list[dict[str, Any]]:
    rows = await stored_deliveries(tenant)
    return [r for r in rows if all(r[k] == v for k, v in wanted.items())]


async def test_two_workers_send_each_delivery_once(
    factory: Factory, settings: Settings, worker: ApiServer
) -> None:
    # given two workers in two processes and a receiver that takes 0.1 s per answer
    def slow(index: int, request: object) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(0.1)
        return OK

    running(worker)
    test_settings = private_settings(settings)
    with receiver(slow) as hook:
        tenant = await factory.tenant(shops=0)
        await register(tenant, hook.url(), settings=test_settings)
        async with worker_here(test_settings, tenant):
            # when 40 transitions are enqueued at once
            assert await enqueue(tenant, incidents=40) == 40

            async def all_delivered() -> bool:
                return len(await rows_where(tenant, status="DELIVERED")) == 40

            await eventually(all_delivered, timeout=30, what="40 deliveries")
        rows = await stored_deliveries(tenant)

    # then each was sent once, by whichever worker claimed it, and both workers took part
    assert sorted(hook.ids()) == sorted(str(r["_id"]) for r in rows)
    assert len(set(hook.ids())) == 40
    assert {r["attempts"] for r in rows} == {1}
    assert len({r["lease_owner"] for r in rows}) == 2


async def test_a_worker_killed_mid_send_loses_nothing_and_resends_the_same_delivery(
    factory: Factory, settings: Settings, worker: ApiServer
) -> None:
    # given a FIRING being sent by a worker process to a receiver that holds it open
    test_settings = private_settings(settings)
    running(worker)
    with receiver(lambda index, request: None if index == 0 else OK) as hook:
        tenant = await factory.tenant(shops=0)
        await register(tenant, hook.url(), settings=test_settings)
        await enqueue(tenant, transition=1)
        await hook.wait_for(1)
        [firing] = await stored_deliveries(tenant)
        # when that process is killed mid-send, and the incident resolves meanwhile
        worker.kill()
        incident = firing["incident_id"]
        await enqueue(tenant, event=WebhookEvent.RESOLVED, incident_id=incident, transition=2)
        # and another worker runs while the dead one's lease lives, and after it lapsed
        await deliver_due(settings=test_settings, org_id=tenant.org.id)
        held = hook.ids()
        clock = ManualClock(now=firing["next_attempt_at"])
        await deliver_due(settings=test_settings, clock=clock, org_id=tenant.org.id)
        rows = await stored_deliveries(tenant)

    # then the lease kept the FIRING from a second sender while it lived, the RESOLVED went
    # at once, and the FIRING arrived again with the same id and bytes: at least once
    resolved = next(r for r in rows if r["event"] == "RESOLVED")
    assert held == [str(firing["_id"]), str(resolved["_id"])]
    assert Counter(hook.ids()) == {str(firing["_id"]): 2, str(resolved["_id"]): 1}
    assert hook.received[0].body == hook.received[2].body == firing["body"].encode()
    assert {(r["event"], r["status"], r["attempts"]) for r in rows} == {
        ("FIRING", "DELIVERED", 2),
        ("RESOLVED", "DELIVERED", 1),
    }
