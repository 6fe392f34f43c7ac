"""Where the ingest path spends its time: pyinstrument over the real app in-process (ASGI
transport, real database), batches of 100 for one machine. Prints the call tree; writes
bench/results/profile_ingest.html (gitignored).

    python -m bench.profile_ingest [--batches 30] [--batch-size 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx
from pyinstrument import Profiler

from agent.client import INGEST_MUTATION
from bench.common import RESULTS, bench_env, create_tenant
from bench.ingest import _records
from models.db import connect, disconnect
from simulator.traffic import MachineTraffic, ShopProfile
from tests.factories import ingest_variables


async def run(batches: int, batch_size: int) -> Profiler:
    from graph.app import create_app

    with bench_env("profile") as env:
        settings = env.settings
        await connect(env.uri, env.db_name, retention_days=92, migrate=True)
        try:
            tenant = await create_tenant(settings, shops=1, machines_per_shop=1)
            records = _records(
                MachineTraffic(ShopProfile("Europe/Berlin", "EUR"), seed=1),
                1,
                batches * batch_size,
            )
            app = create_app(settings, manage_database=False)
            headers = {"X-API-Key": tenant.machine_keys[0], "Content-Type": "application/json"}
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as http:

                async def send(chunk: list[dict]) -> None:
                    body = {
                        "query": INGEST_MUTATION,
                        "variables": ingest_variables(tenant.machine_ids[0], chunk),
                    }
                    r = await http.post("/graphql", content=json.dumps(body), headers=headers)
                    assert not r.json()["data"]["ingestTransactions"]["userErrors"]

                await send(records[:batch_size])  # warm-up
                profiler = Profiler(async_mode="enabled")
                profiler.start()
                for i in range(1, batches):
                    await send(records[i * batch_size : (i + 1) * batch_size])
                profiler.stop()
        finally:
            await disconnect()
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--show-all", action="store_true", help="include library frames")
    args = parser.parse_args()
    profiler = asyncio.run(run(args.batches, args.batch_size))
    print(profiler.output_text(unicode=False, color=False, show_all=args.show_all))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "profile_ingest.html").write_text(profiler.output_html())


if __name__ == "__main__":
    main()
