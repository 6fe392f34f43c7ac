"""`/metrics` across two `cashcc serve` workers: counts after known traffic, and who may read it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from config import Settings
from tests.factories import Factory, gql, tx
from tests.live_support import LiveClient, clients
from tests.serve_support import served

TOKEN = "metrics-token-for-tests"
LOGIN_FAIL = (
    'mutation { login(email: "nobody@example.com", password: "wrong-password-1") '
    "{ userErrors { code } } }"
)
SUBSCRIBE = "subscription { inventoryChanged { machineId } }"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_metrics_count_known_traffic_across_workers(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant()
    with served(
        tmp_path,
        mongodb_uri=settings.mongodb_uri or "",
        mongodb_db=settings.mongodb_db,
        metrics_token=TOKEN,
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            remote = Factory(client=http, settings=settings)

            async def scrape() -> str:
                answer = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                return answer.text

            live = await LiveClient.open(
                f"ws://127.0.0.1:{server.port}/graphql",
                {"authorization": f"Bearer {tenant.admin_token}"},
            )
            async with clients(live):
                await live.subscribe(SUBSCRIBE)
                async with asyncio.timeout(10):  # until a worker has registered it
                    while sample(await scrape(), "cashcc_live_subscribers") != 1:
                        await asyncio.sleep(0.05)
                first = await remote.ingest(
                    tenant, [tx(1), tx(2), tx(3, lines=[(300, 1)])], idempotency_key="k1"
                )
                assert (first["accepted"], len(first["rejected"])) == (2, 1)
                await remote.ingest(
                    tenant, [tx(1), tx(2), tx(3, lines=[(300, 1)])], idempotency_key="k1"
                )
                again = await remote.ingest(tenant, [tx(2), tx(4)], idempotency_key="k2")
                assert (again["accepted"], again["duplicates"]) == (1, 1)
                for _ in range(3):
                    await gql(http, LOGIN_FAIL)
                await gql(http, "{ shops { id } }", token="not-a-jwt")
                await gql(http, "query Mine { shops { id } }", token=tenant.admin_token)

                text = await scrape()

    assert sample(text, "cashcc_ingest_transactions_total", result="accepted") == 3
    assert sample(text, "cashcc_ingest_transactions_total", result="duplicate") == 1
    assert sample(text, "cashcc_ingest_transactions_total", result="rejected") == 1
    assert sample(text, "cashcc_ingest_batches_total", result="applied") == 2
    assert sample(text, "cashcc_ingest_batches_total", result="replayed") == 1
    assert sample(text, "cashcc_auth_failures_total", kind="login") == 3
    assert sample(text, "cashcc_auth_failures_total", kind="bearer") == 1
    assert sample(text, "cashcc_graphql_requests_total", operation="Mine", outcome="ok") == 1
    assert sample(text, "cashcc_graphql_requests_total", operation="Ingest", outcome="ok") == 3
    assert sample(text, "cashcc_graphql_requests_total", operation="anonymous", outcome="ok") == 3
    assert (
        sample(text, "cashcc_graphql_requests_total", operation="anonymous", outcome="error") == 1
    )
    assert sample(text, "cashcc_graphql_request_seconds_count") == 8
    # /metrics itself is not GraphQL and not counted.
    assert sample(text, "cashcc_live_subscribers") == 1
    # Two applied batches publish two envelopes each (transactions and inventory), and the
    # first batch from the machine one more: its CONNECTIVITY_CHANGED (NEVER_SEEN -> LIVE).
    assert sample(text, "cashcc_live_events_published_total") == 5
    assert "cashcc_db_transaction_retries_total" in text


async def test_metrics_need_the_token_and_are_off_by_default(
    tmp_path: Path, settings: Settings, database
) -> None:
    from graph.app import create_app

    for overrides, status in (({}, 404), ({"metrics_token": TOKEN}, 401)):
        app = create_app(settings.model_copy(update=overrides), manage_database=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                answer = await http.get("/metrics", headers=headers)
                assert answer.status_code == status
                assert "cashcc_" not in answer.text
    app = create_app(
        settings.model_copy(update={"metrics_allow": "loopback"}), manage_database=False
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)), base_url="http://test"
    ) as http:
        assert "cashcc_graphql_requests_total" in (await http.get("/metrics")).text
