"""Faults to webhooks end to end, in real worker processes: the machine's local system reports
to one worker, every worker evaluates and delivers, a real receiver on loopback gets each
transition once (the same delivery id on a retry), also when a worker is killed mid-way."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from config import Settings
from tests.alert_support import beat, jam
from tests.factories import REPORT, Factory, Tenant, gql_data
from tests.live_support import graphql_post
from tests.servers import ApiServer, eventually, running, server_env
from tests.webhook_support import (
    OK,
    documented_verify,
    private_settings,
    receiver,
    register,
    stored_deliveries,
)

FAST = {
    "alert_evaluator_interval_seconds": "0.1",
    "webhook_delivery_interval_seconds": "0.1",
    "webhook_allow_private": "true",
    "webhook_timeout_seconds": "2",
    "webhook_lease_seconds": "3",
}
NO_HOLD = """
mutation { updateAlertRule(input: {rule: NOTE_JAM, holdSeconds: 0, keepFiringSeconds: 0})
  { userErrors { code } } }
"""


@contextlib.contextmanager
def workers(settings: Settings, count: int) -> Iterator[list[ApiServer]]:
    servers = [
        ApiServer(
            server_env(
                mongodb_uri=settings.mongodb_uri or "", mongodb_db=settings.mongodb_db, **FAST
            )
        )
        for _ in range(count)
    ]
    with running(*servers):
        yield servers


async def report(server: ApiServer, tenant: Tenant, messages: list[dict[str, Any]]) -> None:
    data = await graphql_post(
        server.http_url,
        REPORT,
        {"input": {"machineId": tenant.machine_id, "messages": messages}},
        api_key=tenant.api_key,
    )
    assert data["reportMachineTelemetry"]["accepted"] == len(messages)


def events_of(received) -> list[str]:
    return [r.json["type"] for r in received]


async def test_two_workers_evaluating_and_delivering_send_each_transition_once(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await gql_data(factory.client, NO_HOLD, token=tenant.admin_token)
    with receiver() as hook, workers(settings, 2) as (first, second):
        issued = await register(tenant, hook.url(), settings=private_settings(settings))
        await report(first, tenant, [beat(1), jam(2)])
        (fired,) = await hook.wait_for(1)
        await report(second, tenant, [jam(3, cleared=True)])
        received = await hook.wait_for(2)

        async def settled() -> bool:
            rows = await stored_deliveries(tenant)
            return len(rows) == 2 and all(r["status"] == "DELIVERED" for r in rows)

        await eventually(settled, timeout=20, what="both deliveries recorded as delivered")
    assert events_of(received) == ["FIRING", "RESOLVED"]
    assert len({r.delivery_id for r in received}) == 2
    assert hook.count() == 2
    verify = documented_verify()
    header = fired.headers["cashcc-signature"]
    assert verify(issued.secret, header, fired.body) is True
    assert verify(issued.secret, header, fired.body.replace(b"FIRING", b"RESOLVED")) is False


async def test_a_worker_killed_while_an_alert_fires_loses_nothing_and_duplicates_nothing(
    factory: Factory, settings: Settings
) -> None:
    """The receiver holds the FIRING delivery open; the only worker is killed mid-request
    and started again: the FIRING arrives again with the same delivery id (the documented
    at-least-once retry), once answered it is not sent again, and the RESOLVED follows."""
    tenant = await factory.tenant()
    await gql_data(factory.client, NO_HOLD, token=tenant.admin_token)

    def hold_the_first(index: int, request) -> Any:
        return None if index == 0 else OK

    with receiver(hold_the_first) as hook, workers(settings, 1) as (worker,):
        await register(tenant, hook.url(), settings=private_settings(settings))
        await report(worker, tenant, [beat(1), jam(2)])
        await hook.wait_for(1)
        worker.kill()
        worker.start()
        received = await hook.wait_for(2, timeout=30)
        await report(worker, tenant, [jam(3, cleared=True)])
        received = await hook.wait_for(3, timeout=30)

        async def settled() -> bool:
            rows = await stored_deliveries(tenant)
            return len(rows) == 2 and all(r["status"] == "DELIVERED" for r in rows)

        await eventually(settled, timeout=20, what="both deliveries recorded as delivered")
    assert events_of(received) == ["FIRING", "FIRING", "RESOLVED"]
    assert received[0].delivery_id == received[1].delivery_id
    assert received[0].body == received[1].body
    assert received[2].delivery_id != received[0].delivery_id
    assert hook.count() == 3
