"""Live-view benchmark: ingest-commit-to-client latency and memory per subscriber.

Real processes over real sockets: uvicorn worker(s) serving the app, an embedded database (or
MONGODB_URI), redis-server for the two-worker runs, and N `websockets` clients subscribed to
`inventoryChanged`. For each event the latency is the client's receive time minus the
envelope's `publishedAt` (stamped right after the ingest transaction committed; same host, same
clock). The next ingest starts only once every subscriber has the previous event, so the numbers
are latency, not queueing under overload.

    python bench/live.py            # 1, 100, 1000 subscribers; memory:// x1 and redis:// x2
    python bench/live.py --quick    # fewer events per scenario

Prints a table and writes JSON to bench/results/. The client and the servers share the same
machine (and in CI, its cores with other jobs): treat the numbers as an upper bound. `cpu us/msg`
is the servers' CPU time during the measured events divided by events x subscribers; it is less
sensitive to other load than the latencies (with one subscriber it is the ingest request's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench.common import percentile, print_table  # noqa: E402
from config import Settings  # noqa: E402
from models.db import connect as db_connect  # noqa: E402
from models.db import disconnect as db_disconnect  # noqa: E402
from models.embedded import start_server, stop_server  # noqa: E402
from tests.factories import INGEST, Factory, Tenant, ingest_variables, tx  # noqa: E402
from tests.live_support import RedisServer  # noqa: E402
from tests.servers import ApiServer, server_env  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SUBSCRIPTION = """
subscription { inventoryChanged { eventId sequence publishedAt totalValue
  denominations { denomination count } } }
"""
CONNECT_CONCURRENCY = 50
SEQUENCE = re.compile(r'"sequence":(\d+)')
_SEQS = itertools.count(1)  # local sequence numbers of the bench machine, across scenarios


@dataclass
class Scenario:
    workers: int
    backend: str
    subscribers: int
    events: int
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    samples: int = 0
    lost: int = 0
    rss_per_subscriber_kib: float | None = None
    server_cpu_us_per_delivery: float = 0.0
    setup_seconds: float = 0.0


class Subscriber:
    """One WebSocket with one subscription; records the arrival time of every message and
    parses it only after the measurement, so client-side parsing does not delay the next read."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.raw: list[tuple[float, str]] = []
        self.latest = 0
        self.arrived = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        async for raw in self.ws:
            self.raw.append((time.time(), raw))
            found = SEQUENCE.search(raw)
            if found:
                self.latest = max(self.latest, int(found.group(1)))
                self.arrived.set()

    def latencies(self) -> dict[int, float]:
        """Chain position -> milliseconds from `publishedAt` to arrival."""
        out: dict[int, float] = {}
        for arrived, raw in self.raw:
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            event = message["payload"]["data"]["inventoryChanged"]
            published = datetime.fromisoformat(event["publishedAt"]).timestamp()
            out[event["sequence"]] = (arrived - published) * 1000
        return out


async def open_subscriber(url: str, token: str) -> Subscriber:
    ws = await connect(
        url, subprotocols=["graphql-transport-ws"], proxy=None, compression=None, open_timeout=60
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
    sub = Subscriber(ws)
    sub.task = asyncio.create_task(sub.run())
    return sub


async def open_all(urls: list[str], token: str, n: int) -> list[Subscriber]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(i: int) -> Subscriber:
        async with gate:
            return await open_subscriber(urls[i % len(urls)], token)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


class Ingester:
    def __init__(self, base_url: str, tenant: Tenant) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False)
        self.tenant = tenant

    async def ingest(self) -> int:
        seq = next(_SEQS)
        body = {
            "query": INGEST,
            "variables": ingest_variables(
                self.tenant.machine_id, [tx(seq, "DEPOSIT", [(1000, 1), (200, 2)])]
            ),
        }
        response = await self.http.post(
            "/graphql", json=body, headers={"X-API-Key": self.tenant.api_key}
        )
        payload = response.json()["data"]["ingestTransactions"]
        assert not payload["userErrors"], payload
        return payload["chainPosition"]

    async def close(self) -> None:
        await self.http.aclose()


async def wait_all(subs: list[Subscriber], position: int, limit: float) -> bool:
    """Wait until every subscriber has the event of `position` (False after `limit` s)."""
    deadline = time.monotonic() + limit
    for sub in subs:
        while sub.latest < position:
            sub.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(sub.arrived.wait(), remaining)
            except TimeoutError:
                return False
    return True


async def run_scenario(
    servers: list[ApiServer], tenant: Tenant, token: str, n: int, events: int, backend: str
) -> Scenario:
    result = Scenario(workers=len(servers), backend=backend, subscribers=n, events=events)
    started = time.monotonic()
    rss_before = sum(s.rss_bytes() for s in servers)
    subs = await open_all([s.ws_url for s in servers], token, n)
    ingester = Ingester(servers[0].http_url, tenant)
    try:
        # Warm-up: ingest until every subscription is live (the protocol has no "subscribed"
        # acknowledgement), then forget the warm-up messages.
        for _ in range(100):
            position = await ingester.ingest()
            if await wait_all(subs, position, limit=2.0):
                break
        else:
            raise RuntimeError("subscribers did not all become live")
        for sub in subs:
            sub.raw.clear()
        result.setup_seconds = round(time.monotonic() - started, 2)
        rss_after = sum(s.rss_bytes() for s in servers)
        if n >= 100:
            result.rss_per_subscriber_kib = round((rss_after - rss_before) / n / 1024, 1)
        measured: list[int] = []
        cpu_before = sum(s.cpu_seconds() for s in servers)
        for _ in range(events):
            measured.append(await ingester.ingest())
            if not await wait_all(subs, measured[-1], limit=30.0):
                break
        cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
        result.server_cpu_us_per_delivery = round(cpu / (len(measured) * n) * 1e6, 1)
        samples: list[float] = []
        for sub in subs:
            latencies = sub.latencies()
            for position in measured:
                if position in latencies:
                    samples.append(latencies[position])
                else:
                    result.lost += 1
        result.samples = len(samples)
        result.p50_ms = round(percentile(samples, 50), 2)
        result.p95_ms = round(percentile(samples, 95), 2)
        result.p99_ms = round(percentile(samples, 99), 2)
        result.max_ms = round(max(samples), 2) if samples else float("nan")
    finally:
        await ingester.close()
        for sub in subs:
            await sub.ws.close()
            if sub.task is not None:
                sub.task.cancel()
    return result


async def make_tenant(settings: Settings) -> tuple[Tenant, str]:
    factory = Factory(client=None, settings=settings)  # type: ignore[arg-type]
    tenant = await factory.tenant()
    return tenant, await factory.token_for(tenant.admin)


def print_scenarios(rows: list[Scenario]) -> None:
    headers = ["workers", "backend", "subs", "events", "samples", "p50 ms", "p95 ms", "p99 ms"]
    headers += ["max ms", "lost", "KiB/sub", "cpu us/msg"]
    print_table(
        headers,
        [
            [
                r.workers,
                r.backend,
                r.subscribers,
                r.events,
                r.samples,
                f"{r.p50_ms:.2f}",
                f"{r.p95_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.2f}",
                r.lost,
                "-" if r.rss_per_subscriber_kib is None else f"{r.rss_per_subscriber_kib:.1f}",
                f"{r.server_cpu_us_per_delivery:.1f}",
            ]
            for r in rows
        ],
    )


async def main(args: argparse.Namespace) -> int:
    counts = [int(c) for c in args.subscribers.split(",")]
    events = args.events or (10 if args.quick else 50)
    tmp = Path(tempfile.mkdtemp(prefix="cashcc-bench-"))
    handle = None
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        handle = start_server(tmp / "db", tmp)
        uri = handle.uri
    db_name = f"cashcc_bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(app_env="test", mongodb_uri=uri, mongodb_db=db_name)
    database = await db_connect(uri, db_name, retention_days=settings.retention_days, migrate=True)
    rows: list[Scenario] = []
    redis = None
    try:
        tenant, token = await make_tenant(settings)
        base_env = server_env(mongodb_uri=uri, mongodb_db=db_name, log_level="WARNING")
        setups: list[tuple[str, int]] = []
        if "memory" in args.backends:
            setups.append(("memory", 1))
        if "redis" in args.backends:
            setups.append(("redis", 2))
        for backend, workers in setups:
            env = dict(base_env)
            if backend == "redis":
                redis = RedisServer()
                redis.start()
                env["BROADCAST_URL"] = redis.url
            env["LIVE_QUEUE_SIZE"] = "1024"
            servers = [ApiServer(env) for _ in range(workers)]
            for server in servers:
                server.start()
            try:
                for n in counts:
                    row = await run_scenario(servers, tenant, token, n, events, backend)
                    rows.append(row)
                    if args.verbose:
                        print_scenarios([row])
            finally:
                for server in servers:
                    server.stop()
                if redis is not None:
                    redis.stop()
                    redis = None
    finally:
        await database.client.drop_database(db_name)
        await db_disconnect()
        if handle is not None:
            stop_server(handle)
    print()
    print_scenarios(rows)
    print(
        f"\nhost: {platform.node()} ({os.cpu_count()} cores, shared); client, servers, database"
        " and Redis on the same machine: numbers include client-side parsing of every message."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"live-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "live",
                "at": stamp,
                "quick": args.quick,
                "host": {"cores": os.cpu_count(), "python": platform.python_version()},
                "target": "p99 < 100 ms at 1000 subscribers on one worker (memory://)",
                "scenarios": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results written to {out.relative_to(ROOT)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 events per scenario")
    parser.add_argument("--events", type=int, default=0, help="events per scenario")
    parser.add_argument("--subscribers", default="1,100,1000", help="comma-separated counts")
    parser.add_argument("--backends", default="memory,redis", help="memory, redis or both")
    parser.add_argument("--verbose", action="store_true", help="print each row as it finishes")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:  # the server runs on uvloop (uvicorn's default when installed); so does the client
        import uvloop

        sys.exit(uvloop.run(main(parse_args())))
    except ImportError:
        sys.exit(asyncio.run(main(parse_args())))
