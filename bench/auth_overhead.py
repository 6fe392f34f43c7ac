"""What identity and access cost per request, on the embedded database.

Measures, in one process over the ASGI app (no network):
- a small query authenticated with a Bearer JWT (user read per request), without and with a
  login session (`sid`: one more read, whether the session was ended);
- the same with an API key (key read + token-bucket findOneAndUpdate per request);
- one token-bucket take on its own;
- security-log appends, sequential and with 8 concurrent appenders on one chain.

Prints a table and writes bench/results/auth_overhead.json. Run from the repository root:
`.venv/bin/python bench/auth_overhead.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import create_tenant
from config import Settings
from graph.app import create_app
from models.db import connect, disconnect, get_database
from models.embedded import start_server, stop_server
from models.rate_limit import take_token
from resolvers.identity.security_log import SecurityAction, record_event
from resolvers.identity.sessions import login, start_session

RESULTS = Path(__file__).resolve().parent / "results" / "auth_overhead.json"
REQUESTS = 400
APPENDS = 200


def summary(name: str, samples: list[float], wall: float) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "case": name,
        "n": len(samples),
        "per_second": round(len(samples) / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


async def timed_requests(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[list, float]:
    samples = []
    start = time.perf_counter()
    for _ in range(REQUESTS):
        t = time.perf_counter()
        response = await http.post("/graphql", json={"query": "{ shops { id } }"}, headers=headers)
        samples.append(time.perf_counter() - t)
        assert response.status_code == 200
    return samples, time.perf_counter() - start


async def run(uri: str) -> list[dict[str, Any]]:
    db_name = f"bench_auth_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        app_env="test", mongodb_uri=uri, mongodb_db=db_name, api_key_rate_burst=10**6
    )
    await connect(uri, db_name, retention_days=settings.retention_days, migrate=True)
    rows = []
    try:
        tenant = await create_tenant(settings, shops=1, machines_per_shop=0)
        admin = tenant.admin
        token = (await start_session(admin, settings=settings)).access_token
        app = create_app(settings, manage_database=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as http:
            await timed_requests(http, {})  # warm-up (schema caches)
            samples, wall = await timed_requests(http, {"Authorization": f"Bearer {token}"})
            rows.append(summary("query, Bearer JWT (session check)", samples, wall))
            session = await login(
                email=admin.email,
                password="correct-horse-battery",
                organization_id=None,
                client_address=None,
                settings=settings,
            )
            auth = {"Authorization": f"Bearer {session.access_token}"}
            samples, wall = await timed_requests(http, auth)
            rows.append(summary("query, Bearer JWT of a login session", samples, wall))
            # The API key may not read shops: FORBIDDEN after full authentication and
            # rate limiting, which is exactly the per-request auth cost.
            samples, wall = await timed_requests(http, {"X-API-Key": tenant.api_key})
            rows.append(summary("query, API key (lookup + rate bucket)", samples, wall))

        db = get_database().db
        samples = []
        start = time.perf_counter()
        for _ in range(REQUESTS):
            t = time.perf_counter()
            await take_token(db, "bench", capacity=10**6, per_second=1.0)
            samples.append(time.perf_counter() - t)
        rows.append(summary("token bucket take", samples, time.perf_counter() - start))

        samples = []
        start = time.perf_counter()
        for _ in range(APPENDS):
            t = time.perf_counter()
            await record_event(org_id=tenant.org.id, action=SecurityAction.LOGOUT)
            samples.append(time.perf_counter() - t)
        rows.append(
            summary("security log append, sequential", samples, time.perf_counter() - start)
        )

        samples = []

        async def appender() -> None:
            for _ in range(APPENDS // 8):
                t = time.perf_counter()
                await record_event(org_id=tenant.org.id, action=SecurityAction.LOGOUT)
                samples.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*[appender() for _ in range(8)])
        rows.append(
            summary("security log append, 8 concurrent", samples, time.perf_counter() - start)
        )
        await get_database().client.drop_database(db_name)
    finally:
        await disconnect()
    return rows


def main() -> None:
    # The API-key case is answered FORBIDDEN on purpose; keep its log lines out of the table.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        handle = start_server(Path(tmp) / "db", Path(tmp))
        try:
            rows = asyncio.run(run(handle.uri))
        finally:
            stop_server(handle)
    print(f"{'case':42} {'n':>5} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for row in rows:
        print(
            f"{row['case']:42} {row['n']:>5} {row['per_second']:>8} "
            f"{row['p50_ms']:>8} {row['p95_ms']:>8}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
