"""Zero-downtime reloads of `cashcc serve`: `kill -HUP` twice under continuous traffic loses,
fails and duplicates nothing, and the new workers read the changed `.env`; open
subscriptions are closed with 1012 (service restart) and are served again by a new worker
within 2 s; `kill -TERM` drains and stops."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config import Settings
from models.ledger import Transaction
from tests.factories import INGEST, Factory, ingest_variables, tx
from tests.live_support import LiveClient, RedisServer
from tests.serve_support import served

INGEST_CLIENTS = 3
QUERY_CLIENTS = 2
BATCH = 5
RESERVE_SECONDS = 2.0
SUBSCRIBE = "subscription { inventoryChanged { machineId } }"
SERVICE_RESTART = 1012
NEW_ORIGIN = "https://after-reload.example"
PREFLIGHT = {"Origin": NEW_ORIGIN, "Access-Control-Request-Method": "POST"}


@dataclass
class Traffic:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    failures: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # machine id -> transactions sent
    queries: int = 0
    closes: list[int | None] = field(default_factory=list)
    reconnect_seconds: list[float] = field(default_factory=list)
    events_after_reconnect: int = 0


async def ingest_client(http: httpx.AsyncClient, key: str, machine: str, traffic: Traffic) -> None:
    seq = 0
    while not traffic.stop.is_set():
        records = [tx(seq + i + 1) for i in range(BATCH)]
        variables = ingest_variables(machine, records, idempotency_key=f"b{seq}")
        try:
            answer = await http.post(
                "/graphql",
                json={"query": INGEST, "variables": variables},
                headers={"X-API-Key": key},
            )
            payload = answer.json()["data"]["ingestTransactions"]
            if payload["accepted"] != BATCH or payload["userErrors"] or payload["rejected"]:
                traffic.failures.append(f"ingest {machine} seq {seq}: {payload}")
        except Exception as exc:  # every failure is counted, none is retried
            traffic.failures.append(f"ingest {machine} seq {seq}: {exc!r}")
            return
        seq += BATCH
        traffic.sent[machine] = seq


async def query_client(http: httpx.AsyncClient, token: str, traffic: Traffic) -> None:
    while not traffic.stop.is_set():
        try:
            answer = await http.post(
                "/graphql",
                json={"query": "{ shops { id } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code != 200 or "errors" in answer.json():
                traffic.failures.append(f"query: {answer.status_code} {answer.text[:200]}")
            traffic.queries += 1
        except Exception as exc:
            traffic.failures.append(f"query: {exc!r}")
            return


async def subscriber(url: str, token: str, traffic: Traffic) -> None:
    closed_at: float | None = None
    while not traffic.stop.is_set():
        live = await LiveClient.open(url, {"authorization": f"Bearer {token}"})
        await live.subscribe(SUBSCRIBE)
        if closed_at is not None:
            traffic.reconnect_seconds.append(time.monotonic() - closed_at)
        try:
            while not traffic.stop.is_set():
                try:
                    await live.next_data(timeout=1.0)
                    if closed_at is not None:
                        traffic.events_after_reconnect += 1
                except TimeoutError:
                    continue
        except Exception:
            closed_at = time.monotonic()
            traffic.closes.append(live.ws.close_code)
        else:
            await live.close()


async def test_two_reloads_under_load_fail_and_lose_nothing(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant(machines_per_shop=INGEST_CLIENTS)
    redis = RedisServer()
    redis.start()
    traffic = Traffic()
    try:
        with served(
            tmp_path,
            mongodb_uri=settings.mongodb_uri or "",
            mongodb_db=settings.mongodb_db,
            broadcast_url=redis.url,
            api_key_rate_burst="1000000",
        ) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                tasks = [
                    asyncio.create_task(ingest_client(http, tenant.api_key, str(m.id), traffic))
                    for m in tenant.machines
                ]
                tasks += [
                    asyncio.create_task(query_client(http, tenant.admin_token, traffic))
                    for _ in range(QUERY_CLIENTS)
                ]
                ws_url = f"ws://127.0.0.1:{server.port}/graphql"
                tasks.append(asyncio.create_task(subscriber(ws_url, tenant.admin_token, traffic)))
                await asyncio.sleep(1.0)  # traffic flowing before the first reload
                first = await asyncio.to_thread(server.reload)
                assert (await http.options("/graphql", headers=PREFLIGHT)).status_code == 400
                (tmp_path / ".env").write_text(f"CORS_ALLOW_ORIGINS={NEW_ORIGIN}\n")
                second = await asyncio.to_thread(server.reload)
                assert not first & second
                # The new workers read the changed settings.
                allowed = await http.options("/graphql", headers=PREFLIGHT)
                assert allowed.headers["access-control-allow-origin"] == NEW_ORIGIN
                await asyncio.sleep(1.0)  # and after the last one
                traffic.stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
            master = server.pid
            assert server.stop() == 0
            assert not os.path.exists(f"/proc/{master}")
    finally:
        redis.stop()

    assert traffic.failures == []
    assert traffic.queries > 0
    assert traffic.closes, "the subscription was never moved to a new worker"
    assert set(traffic.closes) == {SERVICE_RESTART}
    assert len(traffic.reconnect_seconds) == len(traffic.closes)
    assert max(traffic.reconnect_seconds) < RESERVE_SECONDS
    assert traffic.events_after_reconnect > 0
    for machine in tenant.machines:
        stored = await Transaction.find(Transaction.machine_id == machine.id).to_list()
        seqs = sorted(t.seq for t in stored)
        assert seqs == list(range(1, traffic.sent[str(machine.id)] + 1))
