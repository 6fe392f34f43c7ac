"""The largest ingest transaction: one batch of MAX_BATCH_SIZE records, each on another day,
so it writes every record plus an hourly, a daily and a demand summary per record (and the
months they span) in one transaction. Reports how long that transaction takes on one API
process, against MongoDB's 60 s transaction lifetime and MONGODB_TIMEOUT_SECONDS.

    python -m bench.large_batch            # 3 such batches (one machine each)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from agent.client import INGEST_MUTATION
from bench.common import bench_env, create_tenant, print_table, write_result
from config import Settings
from models.db import connect, disconnect
from tests.factories import ingest_variables


def worst_batch(size: int, newest: datetime) -> list[dict[str, Any]]:
    """`size` deposits, one per day going back from `newest`, at varying hours."""
    return [
        {
            "seq": i + 1,
            "type": "DEPOSIT",
            "occurredAt": (newest - timedelta(days=i, hours=i % 24)).isoformat(),
            "currency": "EUR",
            "lines": [
                {"denomination": 1000, "count": 1 + i % 3},
                {"denomination": 200, "count": 1},
            ],
        }
        for i in range(size)
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    size = Settings().max_batch_size
    with bench_env("large_batch") as env:
        await connect(env.uri, env.db_name, retention_days=92, migrate=True)
        try:
            tenant = await create_tenant(env.settings, shops=1, machines_per_shop=args.batches)
        finally:
            await disconnect()
        server = env.server()
        server.start()
        seconds: list[float] = []
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                newest = datetime.now(UTC) - timedelta(hours=1)
                for n, machine in enumerate(tenant.machines):
                    body = {
                        "query": INGEST_MUTATION,
                        "variables": ingest_variables(
                            str(machine.id), worst_batch(size, newest), idempotency_key=f"large-{n}"
                        ),
                    }
                    started = time.perf_counter()
                    answer = await http.post(
                        server.graphql_url, json=body, headers={"X-API-Key": tenant.api_key}
                    )
                    seconds.append(round(time.perf_counter() - started, 2))
                    payload = answer.json()["data"]["ingestTransactions"]
                    assert payload["accepted"] == size, payload
        finally:
            server.stop()
    months = len({(newest - timedelta(days=i)).strftime("%Y-%m") for i in range(size)})
    return {
        "records_per_batch": size,
        "days_spanned": size,
        "writes_per_transaction": {
            "inserts": size,
            "summary_writes": 3 * size + months,
        },
        "batch_seconds": seconds,
        "worst_seconds": max(seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    result = asyncio.run(run(parser.parse_args()))
    print_table(
        ["records", "inserts", "summary writes", "seconds per batch", "worst s"],
        [[result["records_per_batch"], result["writes_per_transaction"]["inserts"],
          result["writes_per_transaction"]["summary_writes"],
          ", ".join(map(str, result["batch_seconds"])), result["worst_seconds"]]],
    )  # fmt: skip
    print(f"wrote {write_result('large_batch', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
