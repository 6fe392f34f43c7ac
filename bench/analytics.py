"""Analytics benchmark: p50/p95 of overview, cashFlow and replenishmentForecast over HTTP.

For each size N it starts a fresh embedded database, seeds 100 shops x 3 machines with N
transactions over 90 days (bench/seed.py: the ingest code's documents, written in bulk),
checks one shop's summaries against a rebuild from raw transactions, starts a real uvicorn
server and times each query through POST /graphql. Prints a table and writes JSON to
bench/results/.

    python -m bench.analytics                 # N = 100,000 and 1,000,000
    python -m bench.analytics --quick         # N = 10,000 and 30,000, fewer runs
    python -m bench.analytics --sizes 100000 --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import create_tenant, percentile
from bench.seed import records_for, seed_machine
from config import Settings
from models.db import connect, disconnect, get_database
from models.embedded import start_server, stop_server
from models.ledger import Transaction
from models.machine import MachineModel
from models.scope import Scope
from models.summary import Grain
from models.summary_store import collection
from resolvers.analytics.rebuild import rebuild_summaries
from resolvers.identity.sessions import start_session
from tests.servers import ApiServer, server_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHOPS, MACHINES_PER_SHOP, DAYS = 100, 3, 90
DB_NAME = "cashcc_bench"

OVERVIEW = """query { overview(top: 10) {
  cashHeld { currency value notesValue coinsValue }
  today { currency deposits withdrawals net count }
  monthToDate { currency deposits withdrawals net count }
  topShops { shop { name } held { value } lastTransactionAt }
  machines { total activeLast24Hours }
} }"""
CASH_FLOW = """query($from: DateTime!, $to: DateTime!) {
  cashFlow(from: $from, to: $to, interval: DAY, groupBy: SHOP) {
    buckets series { key currency deposits withdrawals net }
} }"""
FORECAST = """query { replenishmentForecast(horizonHours: 24) {
  machines { machine { serial } nextDeadline
    denominations { denomination count hoursToNearEmpty hoursToNearFull action quantity deadline }
  }
} }"""


async def seed(n: int, settings: Settings) -> dict:
    """Seed the tenant; returns ids, timings and document counts."""
    started = time.perf_counter()
    tenant = await create_tenant(
        settings, shops=SHOPS, machines_per_shop=MACHINES_PER_SHOP, model=MachineModel.CI_50
    )
    org, admin, machines = tenant.org, tenant.admin, tenant.machines
    rng = random.Random(n)
    now = datetime.now(UTC)
    per_machine = [n // len(machines) + (i < n % len(machines)) for i in range(len(machines))]
    for i, (machine, count) in enumerate(zip(machines, per_machine, strict=True)):
        records = records_for(rng, count, now=now - timedelta(minutes=1), days=DAYS)
        await seed_machine(machine, records, timezone="Europe/Berlin")
        if (i + 1) % 30 == 0:
            print(
                f"  seeded {i + 1}/{len(machines)} machines "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    seeded = time.perf_counter() - started
    # Flush the bulk load to disk before measuring: the checkpoint would otherwise run
    # during the first timed queries of the large size only.
    await get_database().client.admin.command("fsync")
    # The bulk path must equal ingest: one shop's summaries against a rebuild from raw.
    report = await rebuild_summaries(
        scope=Scope.organization(org.id).narrowed(shop_ids=[machines[0].shop_id]),
        start=now - timedelta(days=DAYS + 1),
        end=now + timedelta(hours=1),
    )
    assert not report.differences, report.differences[:3]
    return {
        "org_id": str(org.id),
        # Issued while the seeding process is connected: a token names a stored session.
        "token": (await start_session(admin, settings=settings)).access_token,
        "seconds": round(seeded, 1),
        "transactions": await Transaction.get_pymongo_collection().count_documents({}),
        "hourly_summaries": await collection(Grain.HOUR).count_documents({}),
        "daily_summaries": await collection(Grain.DAY).count_documents({}),
        "monthly_flow": await collection(Grain.MONTH).count_documents({}),
        "daily_demand": await collection(Grain.DEMAND).count_documents({}),
        "rebuild_check": {"hourly": report.checked, "differences": 0},
    }


def measure(base: str, token: str, runs: int) -> dict:
    now = datetime.now(UTC)
    queries = {
        "overview": (OVERVIEW, {}),
        "cashFlow DAY/SHOP 90d": (
            CASH_FLOW,
            {"from": (now - timedelta(days=DAYS)).isoformat(), "to": now.isoformat()},
        ),
        "replenishmentForecast 24h": (FORECAST, {}),
    }
    out = {}
    timings: dict[str, list[float]] = {name: [] for name in queries}
    sizes: dict[str, int] = {}
    with httpx.Client(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        # Round robin, so a slow spell of the shared machine or of the database's background
        # work hits every query alike instead of one query's block of runs.
        for i in range(runs + 3):
            for name, (query, variables) in queries.items():
                t0 = time.perf_counter()
                response = http.post("/graphql", json={"query": query, "variables": variables})
                elapsed = (time.perf_counter() - t0) * 1000
                body = response.json()
                assert response.status_code == 200, body
                assert "errors" not in body, body
                sizes[name] = len(response.content)
                if i >= 3:  # warm-up: parser/validation caches, connection pool
                    timings[name].append(elapsed)
        for name, values in timings.items():
            out[name] = {
                "p50_ms": round(percentile(values, 50), 1),
                "p95_ms": round(percentile(values, 95), 1),
                "max_ms": round(max(values), 1),
                "mean_ms": round(statistics.fmean(values), 1),
                "runs": runs,
                "response_bytes": sizes[name],
            }
    return out


def run_size(n: int, runs: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"cashcc-bench-{n}-"))
    handle = start_server(workdir / "db", workdir)
    settings = Settings(mongodb_uri=handle.uri, mongodb_db=DB_NAME)
    server = None
    try:

        async def do_seed() -> dict:
            await connect(handle.uri, DB_NAME, retention_days=settings.retention_days, migrate=True)
            try:
                return await seed(n, settings)
            finally:
                await disconnect()

        print(f"N={n:,}: seeding ...", flush=True)
        info = asyncio.run(do_seed())
        print(
            f"N={n:,}: seeded in {info['seconds']} s: {info['transactions']:,} transactions, "
            f"{info['hourly_summaries']:,} hourly / {info['daily_summaries']:,} daily "
            "summaries",
            flush=True,
        )
        server = ApiServer(
            server_env(mongodb_uri=handle.uri, mongodb_db=DB_NAME, log_level="WARNING")
        )
        server.start()
        base = server.http_url
        token = info.pop("token")
        info["queries"] = measure(base, token, runs)
        return {"n": n, **info}
    finally:
        if server is not None:
            server.stop()
        stop_server(handle)
        shutil.rmtree(workdir, ignore_errors=True)


def table(results: list[dict]) -> str:
    lines = [
        "| N transactions | query | p50 ms | p95 ms | max ms | response bytes |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for name, q in r["queries"].items():
            lines.append(
                f"| {r['n']:,} | {name} | {q['p50_ms']} | {q['p95_ms']} | "
                f"{q['max_ms']} | {q['response_bytes']:,} |"
            )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        lines.append("")
        lines.append(f"p95 ratio N={large['n']:,} / N={small['n']:,}:")
        for name in small["queries"]:
            ratio = large["queries"][name]["p95_ms"] / small["queries"][name]["p95_ms"]
            lines.append(f"- {name}: {ratio:.2f}x (target <= 1.5x)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few runs")
    parser.add_argument("--sizes", help="comma-separated N values")
    parser.add_argument("--runs", type=int, help="timed runs per query (after 3 warm-ups)")
    args = parser.parse_args()
    sizes = [10_000, 30_000] if args.quick else [100_000, 1_000_000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    runs = args.runs or (10 if args.quick else 40)
    results = []
    for n in sizes:
        results.append(run_size(n, runs))
        print(table(results[-1:]), flush=True)
    report = {
        "benchmark": "analytics",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "note": "2 cores shared with 3 other engineers' test runs",
        },
        "shops": SHOPS,
        "machines_per_shop": MACHINES_PER_SHOP,
        "days": DAYS,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "analytics-quick.json" if args.quick else "analytics.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {RESULTS / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
