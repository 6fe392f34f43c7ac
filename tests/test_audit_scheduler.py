"""Checkpoints are made every hour and at each shop's local midnight by exactly one worker,
and workers racing for the same checkpoint store one per size."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from bson import ObjectId

from config import Settings
from models.audit import AuditSlot
from models.organization import Shop, utcnow
from resolvers.audit.keys import key_ring
from resolvers.audit.note import open_note
from resolvers.audit.scheduler import CheckpointScheduler, due_slots
from tests.audit_support import checkpoints
from tests.factories import Factory, tx
from tests.servers import REPO, api_server, wait_until

# A past day, so the fake clock never dates a checkpoint after a real one.
DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def sizes_of(machine_id: ObjectId) -> list[int]:
    docs = await checkpoints().find({"machine_id": machine_id}).sort("size").to_list()
    return [doc["size"] for doc in docs]


def test_the_hourly_slot_and_end_of_day_slots_of_the_shops_zones_are_due() -> None:
    zones = {"Europe/Berlin": [ObjectId()], "Asia/Kolkata": [ObjectId()]}
    berlin_midnight = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 1 December, 00:00 local
    slots = due_slots(berlin_midnight + timedelta(minutes=1), zones)
    assert [(s.key, s.as_of) for s in slots] == [
        ("hour:2026-11-30T23", berlin_midnight),
        ("day:Europe/Berlin:2026-11-30", berlin_midnight),
    ]
    kolkata_midnight = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    late = due_slots(kolkata_midnight + timedelta(minutes=59), zones)
    assert [s.key for s in late] == ["hour:2026-11-30T19", "day:Asia/Kolkata:2026-11-30"]
    assert [s.key for s in due_slots(kolkata_midnight + timedelta(hours=2), zones)] == [
        "hour:2026-11-30T20"
    ]


async def test_two_workers_at_the_same_hour_run_its_slot_once(factory: Factory) -> None:
    # given
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1), tx(2), tx(3)])
    await AuditSlot.get_pymongo_collection().delete_many({})
    at = DAY + timedelta(hours=10, seconds=5)
    first, second = (
        CheckpointScheduler(factory.settings, clock=lambda: at, owner=name) for name in "ab"
    )
    # when
    ran = await asyncio.gather(first.tick(), second.tick())
    # then
    hour = f"hour:{at:%Y-%m-%dT%H}"
    assert sum(hour in r for r in ran) == 1
    assert await sizes_of(tenant.machines[0].id) == [3]
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id})
    assert doc["as_of"] == at.replace(second=0)
    # and an hour later, only what grew gets a new checkpoint
    await factory.ingest(tenant, [tx(4)])
    later = at + timedelta(hours=1)
    await CheckpointScheduler(factory.settings, clock=lambda: later).tick()
    assert await sizes_of(tenant.machines[0].id) == [3, 4]


async def test_the_end_of_a_shops_local_day_closes_a_checkpoint(factory: Factory) -> None:
    # given: a shop in a zone whose midnight is no full hour (UTC+5:30), and the hourly slot
    # of that moment already done
    tenant = await factory.tenant()
    await Shop.get_pymongo_collection().update_one(
        {"_id": tenant.shops[0].id}, {"$set": {"timezone": "Asia/Kolkata"}}
    )
    await factory.ingest(tenant, [tx(1)])
    kolkata = ZoneInfo("Asia/Kolkata")
    day = (datetime.now(kolkata) - timedelta(days=3)).date()
    midnight = datetime.combine(day, dtime(0), tzinfo=kolkata).astimezone(UTC)
    at = midnight + timedelta(minutes=3)
    await AuditSlot.get_pymongo_collection().delete_many({})
    await AuditSlot.get_pymongo_collection().insert_one(
        {"_id": f"hour:{at:%Y-%m-%dT%H}", "owner": "x", "lease_until": at, "done_at": at,
         "expires_at": at + timedelta(days=1)}
    )  # fmt: skip
    # when
    ran = await CheckpointScheduler(factory.settings, clock=lambda: at).tick()
    # then
    assert ran[f"day:Asia/Kolkata:{day - timedelta(days=1)}"] >= 1
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id})
    assert (doc["size"], doc["as_of"]) == (1, midnight)


async def test_two_worker_processes_racing_for_the_same_checkpoints_store_one_per_size(
    factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    # given: seven logs that grew (six machines, the security log)
    tenant = await factory.tenant(shops=2, machines_per_shop=3)
    for machine_id, key in zip(tenant.machine_ids, tenant.machine_keys, strict=True):
        await factory.ingest(tenant, [tx(1), tx(2)], machine_id=machine_id, api_key=key)
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri or "",
        "MONGODB_DB": settings.mongodb_db,
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.checkpoint_worker",
                str(tenant.org.id),
                str(tmp_path),
                name,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    # when: both have signed everything, they store at once
    wait_until(
        lambda: (
            all((tmp_path / f"ready-{n}").exists() for n in "ab")
            or any(w.poll() is not None for w in workers)
        ),
        timeout=60,
        what="both workers signed",
    )
    (tmp_path / "go").touch()
    results = [json.loads(w.communicate(timeout=60)[0]) for w in workers]
    # then
    assert [r["planned"] for r in results] == [7, 7]
    assert sum(r["stored"] for r in results) == 7
    assert sum(r["lost"] for r in results) == 7
    for machine in tenant.machines:
        (doc,) = await checkpoints().find({"machine_id": machine.id}).to_list()
        assert doc["size"] == 2
        assert open_note(doc["note"], key_ring(settings).verifiers).verified


async def test_the_scheduler_runs_in_each_worker_process_and_one_signs(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1), tx(2)])
    await AuditSlot.get_pymongo_collection().delete_many({})
    env = {"audit_scheduler": "true", "audit_scheduler_tick_seconds": "0.2"}
    with api_server(settings, **env), api_server(settings, **env):
        await eventually(
            lambda: _has(tenant.machines[0].id), timeout=60, what="a scheduled checkpoint"
        )
        hour = f"hour:{utcnow():%Y-%m-%dT%H}"
        await eventually(lambda: _done(hour), timeout=60, what="the hourly slot done")
    assert await sizes_of(tenant.machines[0].id) == [2]


async def _has(machine_id: ObjectId) -> bool:
    return bool(await sizes_of(machine_id))


async def _done(slot: str) -> bool:
    doc = await AuditSlot.get_pymongo_collection().find_one({"_id": slot})
    return doc is not None and doc.get("done_at") is not None
