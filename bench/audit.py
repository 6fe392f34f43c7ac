"""What the verifiable audit logs cost: ingest throughput with and without them, and proofs,
export and verification for one month of a 300-machine organization.

1. Ingest (batch 100): the same traffic over real HTTP to a uvicorn serving this checkout
   and one serving the base commit (`git archive`, default: the merge base with main), each on
   its own database of the same embedded server, in alternating rounds so a slow spell of the
   shared machine hits both alike. The ratio is this checkout's tx/s over the base's.
2. One month (`bench/audit_month.py`): 100 shops x 3 machines, 40 transactions per machine
   and day, seeded with the ingest code's own pure functions (transactions, tree pages,
   machine states), and a checkpoint at every hour a machine's log grew. Then: inclusion and
   consistency proofs through the resolvers, `verifyMachineChain` of one machine, the whole
   organization's bundle and CSV, and `verify-bundle` of it.

    python -m bench.audit                 # both parts (about 15 minutes on 2 cores)
    python -m bench.audit --quick         # 1 round, 30 machines
    python -m bench.audit --part ingest   # or: month
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, bench_env, create_tenant, print_table, write_result
from bench.ingest import _bodies, _full_path, _records
from models.db import connect, disconnect
from simulator.traffic import MachineTraffic, ShopProfile
from tests.servers import ApiServer, server_env

BATCH = 100


def base_tree(commit: str, into: Path) -> Path:
    """The code of `commit`, extracted (not a worktree: nothing is registered in the repo)."""
    repo = RESULTS.parent.parent
    archive = subprocess.run(
        ["git", "archive", commit], cwd=repo, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def merge_base() -> str:
    repo = RESULTS.parent.parent
    out = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=repo, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


async def _tenant(uri: str, db_name: str, machines: int) -> Any:
    from config import Settings

    settings = Settings(app_env="test", mongodb_uri=uri, mongodb_db=db_name)
    await connect(uri, db_name, retention_days=92, migrate=True)
    try:
        return await create_tenant(settings, shops=1, machines_per_shop=machines)
    finally:
        await disconnect()


async def ingest_cost(args: argparse.Namespace) -> dict[str, Any]:
    commit = args.base or merge_base()
    rows: list[dict[str, Any]] = []
    with bench_env("audit-ingest") as env, tempfile.TemporaryDirectory() as tmp:
        code = {"base": base_tree(commit, Path(tmp)), "audit": RESULTS.parent.parent}
        dbs = {name: f"{env.db_name}_{name}" for name in code}
        tenants = {n: await _tenant(env.uri, dbs[n], max(args.machines)) for n in code}
        servers = {
            name: ApiServer(server_env(mongodb_uri=env.uri, mongodb_db=dbs[name]), cwd=path)
            for name, path in code.items()
        }
        for server in servers.values():
            server.start()
        seqs = {name: dict.fromkeys(t.machine_ids, 1) for name, t in tenants.items()}
        try:
            for machines in args.machines:
                rates: dict[str, list[float]] = {name: [] for name in code}
                for _ in range(args.rounds):
                    for name in code:
                        tenant, work, total = tenants[name], [], 0
                        for m in range(machines):
                            mid = tenant.machine_ids[m]
                            traffic = MachineTraffic(ShopProfile("Europe/Berlin", "EUR"), seed=m)
                            records = _records(traffic, seqs[name][mid], args.per_machine)
                            seqs[name][mid] += args.per_machine
                            work.append((tenant.machine_keys[m], _bodies(mid, records, BATCH)))
                            total += len(records)
                        seconds = await _full_path(servers[name].graphql_url, work, [])
                        rates[name].append(total / seconds)
                base, audit = (statistics.median(rates[n]) for n in ("base", "audit"))
                rows.append(
                    {
                        "machines": machines,
                        "transactions_per_round": machines * args.per_machine,
                        "rounds": args.rounds,
                        "base_tps": [round(r, 1) for r in rates["base"]],
                        "audit_tps": [round(r, 1) for r in rates["audit"]],
                        "base_median_tps": round(base, 1),
                        "audit_median_tps": round(audit, 1),
                        "ratio": round(audit / base, 3),
                    }
                )
                print(f"  {machines} machines: base {base:.0f} tx/s, audit {audit:.0f} tx/s")
        finally:
            for server in servers.values():
                server.stop()
            from pymongo import MongoClient

            client: MongoClient = MongoClient(env.uri)
            for db in dbs.values():
                client.drop_database(db)
            client.close()
    print_table(
        ["machines", "tx/round", "base tx/s (median)", "audit tx/s (median)", "audit / base"],
        [
            [r["machines"], r["transactions_per_round"], r["base_median_tps"],
             r["audit_median_tps"], r["ratio"]]
            for r in rows
        ],
    )  # fmt: skip
    return {"base_commit": commit, "batch_size": BATCH, "cells": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["ingest", "month", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="1 round; 30 machines a month")
    parser.add_argument("--base", help="commit to compare with (default: merge base with main)")
    parser.add_argument("--machines", default="1,10", help="concurrent machines, ingest part")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-machine", type=int, default=1000, help="tx per machine per round")
    parser.add_argument("--shops", type=int, default=100, help="month part: shops (3 machines)")
    parser.add_argument("--per-day", type=int, default=40, help="tx per machine and day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", default="audit", help="result name in bench/results/")
    args = parser.parse_args()
    args.machines = [int(m) for m in args.machines.split(",")]
    if args.quick:
        args.rounds, args.shops = 1, 10
    result: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k != "machines"}}
    started = time.perf_counter()
    if args.part in ("ingest", "both"):
        print("ingest, batch 100: base commit vs this checkout")
        result["ingest"] = asyncio.run(ingest_cost(args))
    if args.part in ("month", "both"):
        from bench.audit_month import month

        print(f"one month: {args.shops} shops x 3 machines, {args.per_day} tx per machine and day")
        result["month"] = asyncio.run(month(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"results: {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
