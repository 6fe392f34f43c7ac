"""The embedded database's floor for telemetry: the least database work a heartbeat and a
replayed batch need, without the API (no key, rate bucket or machine read, no GraphQL).

On a fresh embedded database (or MONGODB_URI) with the project's collections and indexes
(`cashcc migrate`), `--machines` twins of running machines, then:

- `heartbeat`: `--concurrency` clients each loop over one transaction per heartbeat: read
  the twin, insert its telemetry log entry, replace the twin (compare-and-set on its
  version), commit: four commands, against seven in the service;
- `replay`: the same clients each insert log entries `--batch` at a time plus one twin
  replace per batch, in one transaction: what a replay drains at the least.

It reports operations and messages per second and the database server's CPU (share of one
core). These bound what bench/telemetry.py can reach on this machine whatever the API does.

    python -m bench.db_floor                     # 10,000 twins, 8 clients, 20 s a phase
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from bench.common import bench_env, print_table, write_result
from bench.telemetry import _running_twin
from models.db import migrate_database
from models.health import MachineTwin, TelemetryRecord
from tests.servers import process_cpu_seconds


def _log_entry(twin: dict[str, Any], seq: int, now: datetime) -> dict[str, Any]:
    return {
        "org_id": twin["org_id"],
        "shop_id": twin["shop_id"],
        "machine_id": twin["_id"],
        "event_id": uuid.uuid4().hex,
        "seq": seq,
        "kind": "HEARTBEAT",
        "observed_at": now,
        "received_at": now,
        "expires_at": now + timedelta(days=30),
        "applied": True,
        "body": {"agentVersion": "bench 1", "outboxBacklog": 0},
    }


async def _phase(
    name: str,
    seconds: float,
    concurrency: int,
    operation: Callable[[int], Awaitable[int]],
    db_pid: int | None,
) -> dict[str, Any]:
    """Run `operation(worker)` in `concurrency` loops for `seconds`; each call returns the
    messages it stored."""
    operations = messages = 0
    stop = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        nonlocal operations, messages
        while time.perf_counter() < stop:
            stored = await operation(worker)  # read `messages` only after the await
            messages += stored
            operations += 1

    cpu = process_cpu_seconds(db_pid) if db_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    share = (process_cpu_seconds(db_pid) - cpu) / elapsed if db_pid else None
    return {
        "phase": name,
        "operations_per_s": operations / elapsed,
        "messages_per_s": messages / elapsed,
        "database_core_share": share,
        "seconds": elapsed,
    }


async def run(machines: int, concurrency: int, seconds: float, batch: int) -> dict[str, Any]:
    with bench_env("db_floor") as env:
        await migrate_database(env.uri, env.db_name, retention_days=92)
        client: AsyncMongoClient = AsyncMongoClient(env.uri, tz_aware=True)
        try:
            db = client[env.db_name]
            twins_coll = db[MachineTwin.Settings.name]
            log = db[TelemetryRecord.Settings.name]
            org, shops = ObjectId(), [ObjectId() for _ in range(100)]
            twins = [
                _running_twin(
                    {"_id": ObjectId(), "org_id": org, "shop_id": shops[i % 100]}, env.settings
                )
                for i in range(machines)
            ]
            for start in range(0, machines, 1000):
                await twins_coll.insert_many(twins[start : start + 1000])
            ids = [t["_id"] for t in twins]
            seq = [0]

            async def store(worker: int, count: int) -> int:
                machine_id = ids[(worker * 7919 + seq[0]) % machines]
                seq[0] += 1

                async def body(session: AsyncClientSession) -> None:
                    now = datetime.now(UTC)
                    twin = await twins_coll.find_one({"_id": machine_id}, session=session)
                    assert twin is not None
                    entries = [_log_entry(twin, seq[0] * batch + k, now) for k in range(count)]
                    await log.insert_many(entries, session=session)
                    version = twin["version"]
                    twin.update(version=version + 1, last_seen_at=now)
                    await twins_coll.replace_one(
                        {"_id": machine_id, "version": version}, twin, session=session
                    )

                async with client.start_session() as session:
                    await session.with_transaction(body)
                return count

            db_pid = env.database_pid
            results = [
                await _phase("heartbeat", seconds, concurrency, lambda w: store(w, 1), db_pid),
                await _phase("replay", seconds, concurrency, lambda w: store(w, batch), db_pid),
            ]
        finally:
            await client.close()
    rows = [
        [
            r["phase"],
            f"{r['operations_per_s']:.0f}",
            f"{r['messages_per_s']:.0f}",
            "-" if r["database_core_share"] is None else f"{r['database_core_share']:.0%}",
        ]
        for r in results
    ]
    print(f"{machines} twins, {concurrency} clients, {seconds:.0f} s a phase, batch {batch}")
    print_table(["phase", "transactions/s", "messages/s", "database CPU"], rows)
    return {
        "machines": machines,
        "concurrency": concurrency,
        "batch": batch,
        "phases": results,
        "compare_with": "bench/telemetry.py targets: 201 msg/s steady, >= 2,000 msg/s replay",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100, help="log entries per replay call")
    parser.add_argument("--name", default="db_floor")
    args = parser.parse_args()
    result = asyncio.run(run(args.machines, args.concurrency, args.seconds, args.batch))
    print(f"wrote {write_result(args.name, result)}")


if __name__ == "__main__":
    main()
