"""Ingest throughput: the full path (HTTP, GraphQL, auth, validation, idempotency, atomic
inventory and chain update) against raw `insert_many` of the same documents.

For every (concurrent machines, batch size) cell, each machine sends its batches one after
another over real HTTP to a real uvicorn (one worker); transactions/s is the cell's total over
its wall time. The baseline inserts the same transaction documents with pymongo `insert_many`,
same concurrency and batch size, into a collection of the same database carrying the same
indexes. It runs twice, before and after the full path, because whichever phase runs right
after a big write pays for the database flushing it (order bias that is large on a shared
machine): once with the documents built by the ingest code's own pure functions, once with the
documents the full path stored (read back). The ratio uses the mean of the two.
Target: batch 100 reaches >= 50% of the baseline.

    python -m bench.ingest            # quick (make bench)
    python -m bench.ingest --full     # the issue's full matrix with larger volumes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient

from agent.client import INGEST_MUTATION
from bench.common import BenchEnv, bench_env, create_tenant, print_table, pyplot, write_result
from config import Settings
from models.currencies import CashKind
from models.db import connect, disconnect
from models.ledger import MachineInventory, Transaction, TransactionType
from resolvers.cash import CashCount
from resolvers.ledger.ingest.ledger_update import apply_records
from resolvers.ledger.ingest.records import RecordInput, validate_records
from simulator.traffic import MachineTraffic, ShopProfile
from tests.factories import ingest_variables

BASELINE_COLLECTION = "bench_baseline"
# Quick mode skips cells with more records in flight at once (50 machines x 1,000).
QUICK_MAX_IN_FLIGHT = 10_000


@dataclass
class Cell:
    machines: int
    batch_size: int
    transactions: int
    full_seconds: float
    full_tps: float
    baseline_before_seconds: float
    baseline_after_seconds: float
    baseline_tps: float
    ratio: float
    p50_ms: float
    p95_ms: float


def _records(traffic: MachineTraffic, first_seq: int, count: int) -> list[dict[str, Any]]:
    out = []
    for n, tx in enumerate(traffic.generate(count, now=datetime.now(UTC))):
        out.append(
            {
                "seq": first_seq + n,
                "type": tx["type"],
                "occurredAt": tx["occurred_at"].isoformat(timespec="milliseconds"),
                "currency": tx["currency"],
                "lines": tx["lines"],
                "amount": tx["amount"],
                "reference": tx["reference"],
                "operatorId": tx["operator_id"],
            }
        )
    return out


def _bodies(machine_id: str, records: list[dict[str, Any]], batch: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "query": INGEST_MUTATION,
                "variables": ingest_variables(machine_id, records[i : i + batch]),
            }
        ).encode()
        for i in range(0, len(records), batch)
    ]


def _retryable(payload: dict) -> bool:
    errors = payload.get("errors") or []
    return bool(errors) and all(e.get("extensions", {}).get("retryable") for e in errors)


async def _full_path(
    url: str, work: list[tuple[str, list[bytes]]], latencies: list[float]
) -> float:
    limits = httpx.Limits(max_connections=len(work) + 1, max_keepalive_connections=len(work) + 1)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:

        async def machine(api_key: str, bodies: list[bytes]) -> None:
            headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
            for body in bodies:
                for _attempt in range(5):
                    t0 = time.perf_counter()
                    response = await http.post(url, content=body, headers=headers)
                    latencies.append(time.perf_counter() - t0)
                    payload = response.json()
                    if not _retryable(payload):
                        break
                    # A retryable error (TIMEOUT on a loaded machine): sent again with the
                    # same idempotency key, as an agent does.
                result = payload.get("data", {}) and payload["data"]["ingestTransactions"]
                if not result or result["userErrors"] or result["rejected"]:
                    raise RuntimeError(f"ingest failed: {str(payload)[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*(machine(k, b) for k, b in work))
        return time.perf_counter() - started


async def _baseline(uri: str, db_name: str, docs: list[list[dict]], batch: int) -> float:
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True)
    db = client[db_name]
    await db.drop_collection(BASELINE_COLLECTION)
    target = db[BASELINE_COLLECTION]
    # Same indexes as the real transactions collection, so both sides maintain them.
    for name, info in (await db[Transaction.Settings.name].index_information()).items():
        if name == "_id_":
            continue
        options = {
            k: info[k]
            for k in ("unique", "expireAfterSeconds", "partialFilterExpression", "sparse")
            if k in info
        }
        await target.create_index(info["key"], name=name, **options)

    async def machine(machine_docs: list[dict]) -> None:
        for i in range(0, len(machine_docs), batch):
            await target.insert_many(machine_docs[i : i + batch], ordered=True)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(machine(d) for d in docs))
        return time.perf_counter() - started
    finally:
        await client.close()


def _documents(machine_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents ingest would store for `records` on a fresh machine (pure functions)."""
    inputs = [
        RecordInput(
            seq=r["seq"],
            type=TransactionType(r["type"]),
            occurred_at=datetime.fromisoformat(r["occurredAt"]),
            currency=r["currency"],
            lines=[
                CashCount(ln["denomination"], ln["count"], CashKind.NOTE if ln["kind"] == "NOTE"
                          else CashKind.COIN)
                for ln in r["lines"]
            ],
            amount=r["amount"],
            reference=r["reference"],
            operator_id=r["operatorId"],
        )
        for r in records
    ]  # fmt: skip
    now = datetime.now(UTC)
    outcome = validate_records(
        inputs, machine_currency="EUR", now=now, max_future_skew=timedelta(days=1)
    )
    assert not outcome.rejected, outcome.rejected[:3]
    ids = {"org_id": ObjectId(), "shop_id": ObjectId(), "machine_id": ObjectId(machine_id)}
    state = MachineInventory.initial(
        machine_id=ids["machine_id"],
        org_id=ids["org_id"],
        shop_id=ids["shop_id"],
        currency="EUR",
        at=now,
    )
    update = apply_records(
        state,
        outcome.valid,
        machine=ids,
        batch_id=ObjectId(),
        received_at=now,
        max_seq_ranges=Settings().max_seq_ranges,
    )
    return update.documents


async def _stored_docs(env: BenchEnv, machine_id: str, first: int, last: int) -> list[dict]:
    client: AsyncMongoClient = AsyncMongoClient(env.uri, tz_aware=True)
    try:
        cursor = client[env.db_name][Transaction.Settings.name].find(
            {"machine_id": ObjectId(machine_id), "seq": {"$gte": first, "$lte": last}},
            sort=[("seq", 1)],
        )
        docs = [d async for d in cursor]
    finally:
        await client.close()
    for d in docs:
        d["_id"] = ObjectId()  # a fresh id: the baseline inserts copies into its own collection
    return docs


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cells: list[Cell] = []
    skipped: list[dict] = []
    timed_out: list[dict] = []
    with bench_env("ingest") as env:
        settings = env.settings
        await connect(settings.mongodb_uri or "", env.db_name, retention_days=92, migrate=True)
        try:
            tenant = await create_tenant(settings, shops=1, machines_per_shop=max(args.machines))
        finally:
            await disconnect()
        server = env.server()
        server.start()
        next_seq = dict.fromkeys(tenant.machine_ids, 1)
        try:
            for batch in args.batches:
                for machines in args.machines:
                    if not args.full and machines * batch > QUICK_MAX_IN_FLIGHT:
                        skipped.append({"machines": machines, "batch_size": batch})
                        print(f"  machines {machines:>2} batch {batch:>4}: skipped (--full)")
                        continue
                    per_machine = max(batch, args.volume.get(batch, batch) // machines)
                    per_machine -= per_machine % batch
                    work, ranges, built = [], [], []
                    for m in range(machines):
                        mid = tenant.machine_ids[m]
                        traffic = MachineTraffic(ShopProfile("Europe/Berlin", "EUR"), seed=m)
                        records = _records(traffic, next_seq[mid], per_machine)
                        work.append((tenant.machine_keys[m], _bodies(mid, records, batch)))
                        built.append(_documents(mid, records))
                        ranges.append((mid, next_seq[mid], next_seq[mid] + per_machine - 1))
                        next_seq[mid] += per_machine
                    latencies: list[float] = []
                    limit = args.cell_timeout
                    try:
                        before = await asyncio.wait_for(
                            _baseline(env.uri, env.db_name, built, batch), limit
                        )
                        full = await asyncio.wait_for(
                            _full_path(server.graphql_url, work, latencies), limit
                        )
                        docs = [await _stored_docs(env, mid, lo, hi) for mid, lo, hi in ranges]
                        total = sum(len(d) for d in docs)
                        assert total == machines * per_machine, (total, machines, per_machine)
                        after = await asyncio.wait_for(
                            _baseline(env.uri, env.db_name, docs, batch), limit
                        )
                    except TimeoutError:
                        # The database may be wedged; later cells would measure nothing.
                        timed_out.append({"machines": machines, "batch_size": batch})
                        print(f"  machines {machines:>2} batch {batch:>4}: over {limit:.0f}s")
                        return _result(args, cells, skipped, timed_out)
                    base = (before + after) / 2
                    lat = sorted(latencies)
                    cell = Cell(
                        machines=machines,
                        batch_size=batch,
                        transactions=total,
                        full_seconds=round(full, 3),
                        full_tps=round(total / full, 1),
                        baseline_before_seconds=round(before, 3),
                        baseline_after_seconds=round(after, 3),
                        baseline_tps=round(total / base, 1),
                        ratio=round(base / full, 3),
                        p50_ms=round(statistics.median(lat) * 1000, 1),
                        p95_ms=round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1),
                    )
                    cells.append(cell)
                    write_result("ingest", _result(args, cells, skipped, timed_out))
                    print(
                        f"  machines {machines:>2} batch {batch:>4}: {cell.full_tps:>8.0f} tx/s "
                        f"vs baseline {cell.baseline_tps:>8.0f} tx/s (ratio {cell.ratio:.2f})",
                        flush=True,
                    )
        finally:
            server.stop()
    return _result(args, cells, skipped, timed_out)


def _result(
    args: argparse.Namespace, cells: list[Cell], skipped: list[dict], timed_out: list[dict]
) -> dict[str, Any]:
    return {
        "mode": "full" if args.full else "quick",
        "target": "batch 100 full path >= 50% of raw insert_many",
        "cells": [asdict(c) for c in cells],
        "skipped": skipped,
        "timed_out": timed_out,
    }


def chart(result: dict[str, Any], path: str) -> bool:
    """Draw the result to `path`; False when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False

    cells = result["cells"]
    labels = [f"{c['machines']}m x {c['batch_size']}" for c in cells]
    x = range(len(cells))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar([i - 0.2 for i in x], [c["full_tps"] for c in cells], 0.4, label="full ingest path")
    ax.bar([i + 0.2 for i in x], [c["baseline_tps"] for c in cells], 0.4, label="raw insert_many")
    for i, c in enumerate(cells):
        ax.annotate(f"{c['ratio']:.0%}", (i - 0.2, c["full_tps"]), ha="center", va="bottom")
    ax.set_yscale("log")
    ax.set_xticks(list(x), labels, rotation=30)
    ax.set_ylabel("transactions / s (log)")
    ax.set_title("Ingest throughput: full path vs raw insert (machines x batch size)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="larger volumes per cell")
    parser.add_argument("--machines", default="1,10,50")
    parser.add_argument("--batches", default="1,100,1000")
    parser.add_argument("--cell-timeout", type=float, default=900.0, help="seconds per phase")
    args = parser.parse_args()
    args.machines = [int(x) for x in args.machines.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    # Transactions per cell by batch size (each machine sends at least one batch).
    args.volume = (
        {1: 1_000, 100: 20_000, 1000: 50_000} if args.full else {1: 300, 100: 5_000, 1000: 10_000}
    )
    result = asyncio.run(run(args))
    print()
    print_table(
        ["machines", "batch", "tx", "full tx/s", "baseline tx/s", "ratio", "p50 ms", "p95 ms"],
        [
            [
                c["machines"],
                c["batch_size"],
                c["transactions"],
                f"{c['full_tps']:.0f}",
                f"{c['baseline_tps']:.0f}",
                f"{c['ratio']:.2f}",
                c["p50_ms"],
                c["p95_ms"],
            ]
            for c in result["cells"]
        ],
    )
    path = write_result("ingest", result)
    png = str(path.with_suffix(".png"))
    print(f"\nwrote {path}" + (f" and {png}" if chart(result, png) else ""))


if __name__ == "__main__":
    main()
