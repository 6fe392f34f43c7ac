"""Part 2 of bench/audit.py: one month of an organization's audit logs, seeded, then proofs,
verification and the export measured (see bench/audit.py for how to run it)."""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import time
from datetime import UTC, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from bson import ObjectId

from auth.principal import principal_for_user
from bench.common import bench_env, create_tenant, percentile, print_table
from bench.seed import records_for
from config import Settings
from models.audit import AuditCheckpoint, AuditLogHead, AuditTreePage, LogKey
from models.audit_store import append_tree_nodes, node_slot
from models.db import connect, disconnect, get_database
from models.ledger import MachineInventory, Transaction
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle import bundle_lines, csv_lines, resolve_period
from resolvers.audit.bundle_check import check_bundle
from resolvers.audit.checkpoint import Checkpoint, format_checkpoint
from resolvers.audit.checkpoints import produce_checkpoints
from resolvers.audit.keys import key_ring
from resolvers.audit.log_check import verify_machine_chain
from resolvers.audit.logs import log_origin, stored_root
from resolvers.audit.note import sign_note
from resolvers.audit.proofs import log_consistency, transaction_inclusion
from resolvers.ledger.ingest.ledger_update import apply_records
from resolvers.ledger.ingest.records import validate_records

SAMPLES = 200
CHUNK = 5000


def _pages(machine: Any, nodes: list[tuple[Any, bytes]]) -> list[dict[str, Any]]:
    """The tree page documents ingest would have written for these nodes (completion order)."""
    pages: dict[int, list[bytes]] = {}
    for address, value in nodes:
        page, position = node_slot(address)
        hashes = pages.setdefault(page, [])
        assert position == len(hashes)
        hashes.append(value)
    return [
        {
            "org_id": machine.org_id,
            "machine_id": machine.id,
            "shop_id": machine.shop_id,
            "page": page,
            "filled": len(hashes),
            "hashes": hashes,
        }
        for page, hashes in pages.items()
    ]


async def _insert(model: Any, docs: list[dict[str, Any]]) -> None:
    for i in range(0, len(docs), CHUNK):
        await model.get_pymongo_collection().insert_many(docs[i : i + CHUNK], ordered=False)


async def seed_machine(
    machine: Any, settings: Settings, rng: random.Random, *, per_day: int, days: int
) -> dict[str, int]:
    """A month of one machine, batched per hour, a checkpoint closing every hour it grew."""
    now, signer = utcnow(), key_ring(settings).signer
    origin = log_origin(settings.audit_log_origin, LogKey(machine.org_id, machine.id))
    records = records_for(rng, per_day * days, now=now - timedelta(hours=1), days=days)
    state = await MachineInventory.get_pymongo_collection().find_one({"_id": machine.id})
    docs, nodes, checkpoints = [], [], []
    ids = {"org_id": machine.org_id, "shop_id": machine.shop_id, "machine_id": machine.id}
    for hour, group in groupby(records, key=lambda r: r.occurred_at.replace(minute=0, second=0)):
        outcome = validate_records(
            list(group), machine_currency="EUR", now=now, max_future_skew=timedelta(days=1)
        )
        update = apply_records(
            state,
            outcome.valid,
            machine=ids,
            batch_id=ObjectId(),
            received_at=hour + timedelta(minutes=59),
            max_seq_ranges=settings.max_seq_ranges,
        )
        docs += update.documents
        nodes += update.tree_nodes
        state = update.state
        size, closes = state["chain_position"], (hour + timedelta(hours=1)).astimezone(UTC)
        root = stored_root(state["audit_compact"], size)
        checkpoints.append(
            {
                **ids,
                "origin": origin,
                "size": size,
                "root": root.hex(),
                "key_name": signer.name,
                "note": sign_note(format_checkpoint(Checkpoint(origin, size, root)), [signer]),
                "key_id": f"{signer.key_id:08x}",
                "as_of": closes,
                "created_at": closes,
            }
        )
    await _insert(Transaction, docs)
    await _insert(AuditTreePage, _pages(machine, nodes))
    await _insert(AuditCheckpoint, checkpoints)
    last = checkpoints[-1]
    await AuditLogHead.get_pymongo_collection().insert_one(
        {
            "org_id": machine.org_id,
            "machine_id": machine.id,
            "shop_id": machine.shop_id,
            "size": last["size"],
            "root": last["root"],
            "as_of": last["as_of"],
        }
    )
    await MachineInventory.get_pymongo_collection().replace_one(
        {"_id": machine.id}, {k: v for k, v in state.items() if k != "_id"}
    )
    return {"transactions": len(docs), "checkpoints": len(checkpoints)}


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p95_ms": round(percentile(samples, 95) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


async def _timed(work: Any) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def month(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(15)
    with bench_env("audit-month") as env:
        settings = env.settings
        await connect(env.uri, env.db_name, retention_days=92, migrate=True)
        try:
            tenant = await create_tenant(settings, shops=args.shops, machines_per_shop=3)
            started, totals = time.perf_counter(), {"transactions": 0, "checkpoints": 0}
            for machine in tenant.machines:
                seeded = await seed_machine(
                    machine, settings, rng, per_day=args.per_day, days=args.days
                )
                totals = {k: totals[k] + seeded[k] for k in totals}
            seed_seconds = time.perf_counter() - started
            await get_database().client.admin.command("fsync")
            print(f"  seeded {totals} in {seed_seconds:.0f} s")
            return await _measure(args, settings, tenant, rng, totals, seed_seconds)
        finally:
            await disconnect()


async def _measure(
    args: argparse.Namespace,
    settings: Settings,
    tenant: Any,
    rng: random.Random,
    totals: dict[str, int],
    seed_seconds: float,
) -> dict[str, Any]:
    principal = principal_for_user(tenant.admin)
    scope = Scope.organization(tenant.org.id)
    per_machine = args.per_day * args.days
    inclusion, consistency = [], []
    for _ in range(SAMPLES):
        machine = rng.choice(tenant.machines)
        doc = await Transaction.get_pymongo_collection().find_one(
            # org_id first, as the shard-key-prefixed index (org_id, machine_id,
            # chain_position) needs: without it this lookup scanned every transaction
            {
                "org_id": machine.org_id,
                "machine_id": machine.id,
                "chain_position": rng.randint(1, per_machine),
            }
        )
        inclusion.append(
            await _timed(
                transaction_inclusion(
                    principal=principal, transaction_id=str(doc["_id"]), checkpoint_size=None
                )
            )
        )
        sizes = [
            c["size"]
            async for c in AuditCheckpoint.get_pymongo_collection().find(
                {"org_id": machine.org_id, "machine_id": machine.id}, {"size": 1}
            )
        ]
        a, b = sorted(rng.sample(sizes, 2))
        consistency.append(
            await _timed(
                log_consistency(
                    principal=principal, machine_id=str(machine.id), from_size=a, to_size=b
                )
            )
        )
    chain = [
        await _timed(verify_machine_chain(scope=scope, machine_id=m.id, settings=settings))
        for m in tenant.machines[:5]
    ]
    now = utcnow()
    period = await resolve_period(
        scope=scope, start=now - timedelta(days=args.days + 1), end=now, shop_id=None
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle, table = Path(tmp) / "bundle.jsonl", Path(tmp) / "bundle.csv"
        export_seconds = await _timed(_write(bundle, bundle_lines(period, settings=settings)))
        csv_seconds = await _timed(_write(table, csv_lines(period, settings=settings)))
        started = time.perf_counter()
        with bundle.open() as handle:
            report = check_bundle(handle, log_keys=key_ring(settings).verifier_keys)
        verify_seconds = time.perf_counter() - started
        assert report.ok, report.problems or [log for log in report.logs if log.finding][:3]
        sizes = {"bundle_bytes": bundle.stat().st_size, "csv_bytes": table.stat().st_size}
    for machine in tenant.machines:  # one more record per machine, then one hourly run
        await _grow(machine, settings)
    hourly = await _timed(
        produce_checkpoints(settings=settings, now=utcnow(), org_id=tenant.org.id)
    )
    result = {
        "machines": len(tenant.machines),
        "seeded": totals,
        "seed_seconds": round(seed_seconds, 1),
        "inclusion_proof": _ms(inclusion),
        "consistency_proof": _ms(consistency),
        "verify_machine_chain": _ms(chain),
        "export_bundle_seconds": round(export_seconds, 1),
        "export_csv_seconds": round(csv_seconds, 1),
        "verify_bundle_seconds": round(verify_seconds, 1),
        "hourly_checkpoint_run_seconds": round(hourly, 2),
        **sizes,
    }
    print_table(
        ["measure", "value"],
        [[k, v] for k, v in result.items() if k not in ("seeded",)],
    )
    return result


async def _write(path: Path, lines: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        async for line in lines:
            handle.write(line)


async def _grow(machine: Any, settings: Settings) -> None:
    rng = random.Random(str(machine.id))
    state = await MachineInventory.get_pymongo_collection().find_one({"_id": machine.id})
    record = dataclasses.replace(
        records_for(rng, 1, now=utcnow(), days=1)[0], seq=state["chain_position"] + 1
    )
    outcome = validate_records(
        [record], machine_currency="EUR", now=utcnow(), max_future_skew=timedelta(days=1)
    )
    ids = {"org_id": machine.org_id, "shop_id": machine.shop_id, "machine_id": machine.id}
    update = apply_records(
        state,
        outcome.valid,
        machine=ids,
        batch_id=ObjectId(),
        received_at=utcnow(),
        max_seq_ranges=settings.max_seq_ranges,
    )
    await Transaction.get_pymongo_collection().insert_many(update.documents)
    await get_database().in_transaction(
        lambda session: append_tree_nodes(
            log=LogKey(machine.org_id, machine.id),
            shop_id=machine.shop_id,
            nodes=update.tree_nodes,
            session=session,
        )
    )
    await MachineInventory.get_pymongo_collection().replace_one(
        {"_id": machine.id}, {k: v for k, v in update.state.items() if k != "_id"}
    )
