"""Alerts benchmark: the evaluator over a fleet of 10,000 machines, 1 % of them faulting.

Builds one organization of 100 shops x 100 machines on a fresh embedded database (or
MONGODB_URI): two machines report real telemetry through the service (one healthy, one with a
full collection box), and their twins are copied to the rest of the fleet (the same documents
the service writes, 1 % of them the faulting one). Then it times evaluator passes:

- `full`: every machine due at once (a rule change, or a restart after an outage);
- `steady`: only the faulting 1 % due (what telemetry and time make due in normal operation);
- `idle`: nothing due (the cost of a worker's loop when nothing happens).

It checks that exactly one incident fired per faulting machine and none elsewhere. With
`--webhooks` it also measures fault-to-webhook latency through a real server process and a
real receiver, and deliveries per second (see `bench/alerts_webhooks.py`).

    python -m bench.alerts                      # 10,000 machines
    python -m bench.alerts --machines 2000      # a quicker run
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
import uuid
from datetime import timedelta

import httpx
from bson import ObjectId

from bench.common import bench_env, percentile, print_table, write_result
from graph.app import create_app
from models.alerts import Incident
from models.db import connect, disconnect
from models.health import MachineTwin
from models.machine import Machine
from models.organization import utcnow
from resolvers.alerts.evaluator import evaluate_alerts
from tests.factories import REPORT, Factory, Tenant, heartbeat, message
from tests.servers import eventually, running
from tests.webhook_support import OK, Received, Reply, enqueue, private_settings, receiver, register

SHOPS = 100
FAULTING_SHARE = 0.01


def _units(full: bool) -> list[dict]:
    box = {"number": 5, "purpose": "COLLECTION_BOX", "statusCode": 4 if full else 2}
    return [box, {"number": 1, "purpose": "RECYCLE", "statusCode": 2, "pieces": []}]


async def _template_twin(factory: Factory, tenant: Tenant, index: int, *, faulting: bool) -> dict:
    """Report a heartbeat and the cash units of machine `index` through the API; its twin
    as stored."""
    now = utcnow()
    messages = [heartbeat(1, at=now), message("UNITS", 2, at=now, units=_units(full=faulting))]
    await factory.report(
        tenant,
        messages,
        machine_id=tenant.machine_ids[index],
        api_key=tenant.machine_keys[index],
    )
    twin = await MachineTwin.get_pymongo_collection().find_one({"_id": tenant.machines[index].id})
    assert twin is not None
    return twin


async def build_fleet(factory: Factory, machines: int) -> tuple[Tenant, list[ObjectId]]:
    """One organization, `machines` machines over SHOPS shops; returns it and the ids of
    the faulting machines."""
    per_shop = max(1, machines // SHOPS)
    tenant = await factory.tenant(shops=SHOPS, machines_per_shop=1)
    healthy = await _template_twin(factory, tenant, 0, faulting=False)
    faulting = await _template_twin(factory, tenant, 1, faulting=True)
    machine_docs = Machine.get_pymongo_collection()
    twins = MachineTwin.get_pymongo_collection()
    await twins.delete_many({"org_id": tenant.org.id})
    templates = {m["_id"]: m for m in await machine_docs.find({"org_id": tenant.org.id}).to_list()}
    new_machines, new_twins, faulty = [], [], []
    every = round(1 / FAULTING_SHARE)
    n = 0
    for shop_machine in tenant.machines:
        base = templates[shop_machine.id]
        for k in range(per_shop):
            doc = base if k == 0 else {**base, "_id": ObjectId(), "serial": uuid.uuid4().hex}
            if k:
                new_machines.append(doc)
            bad = n % every == every - 1
            twin = copy.deepcopy(faulting if bad else healthy)
            twin.update(_id=doc["_id"], shop_id=doc["shop_id"], alerts_due_at=None)
            new_twins.append(twin)
            if bad:
                faulty.append(doc["_id"])
            n += 1
    for start in range(0, len(new_machines), 1000):
        await machine_docs.insert_many(new_machines[start : start + 1000])
    for start in range(0, len(new_twins), 1000):
        await twins.insert_many(new_twins[start : start + 1000])
    return tenant, faulty


async def timed_pass(settings, now) -> tuple[float, int, int]:
    started = time.perf_counter()
    result = await evaluate_alerts(now=now, settings=settings)
    return time.perf_counter() - started, result.machines, result.transitions


async def heard_from_now(tenant: Tenant) -> None:
    """Every twin heard from now, as a running fleet's are. The passes before take minutes
    on a slow machine; past the LATE threshold the server's first connectivity pass would
    turn the whole fleet LATE, and the faults would wait behind 10,000 alert evaluations."""
    now = utcnow()
    twins = MachineTwin.get_pymongo_collection()
    template = await twins.find_one({"org_id": tenant.org.id})
    assert template is not None
    await twins.update_many(
        {"org_id": tenant.org.id},
        {
            "$set": {
                "last_seen_at": now,
                "next_check_at": now + timedelta(seconds=template["late_after_seconds"]),
            }
        },
    )


async def fault_to_webhook(
    env, tenant: Tenant, healthy: list[int], faults: int, rate: float, batch: int
) -> dict:
    """Through a real server process (its own evaluator and delivery worker, default
    intervals) and a real receiver: `faults` machines report a full collection box (a rule
    with no hold), `rate` per second; the time from sending the report to the FIRING
    webhook's arrival, per fault. Then deliveries per second: a batch of deliveries
    enqueued at once, until the receiver has them all."""
    arrivals: dict[str, float] = {}
    await heard_from_now(tenant)

    def answer(index: int, request: Received) -> Reply:
        body = request.json
        machine_id = body["incident"].get("machine_id")
        if body["type"] == "FIRING" and machine_id is not None:
            arrivals.setdefault(machine_id, time.perf_counter())

        return OK

    server = env.server(
        webhook_allow_private="true",
        alert_evaluator_interval_seconds="1",
        webhook_delivery_interval_seconds="1",
    )
    with receiver(answer) as hook, running(server):
        await register(tenant, hook.url(), settings=private_settings(env.settings))
        sent: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for index in healthy[:faults]:
                machine_id = tenant.machine_ids[index]
                body = {
                    "query": REPORT,
                    "variables": {
                        "input": {
                            "machineId": machine_id,
                            "messages": [
                                message("UNITS", 10, at=utcnow(), units=_units(full=True))
                            ],
                        }
                    },
                }
                sent[machine_id] = time.perf_counter()
                answer = await http.post(
                    server.graphql_url, json=body, headers={"X-API-Key": tenant.machine_keys[index]}
                )
                assert answer.json().get("data"), answer.text + server.log()[-3000:]
                result = answer.json()["data"]["reportMachineTelemetry"]
                assert result["accepted"] == 1, result
                await asyncio.sleep(1 / rate)

        async def all_arrived() -> bool:
            return len(arrivals) >= len(sent)

        await eventually(all_arrived, timeout=60, what="a FIRING webhook per fault")
        latencies = [arrivals[m] - t for m, t in sent.items() if m in arrivals]
        before = hook.count()
        started = time.perf_counter()
        await enqueue(tenant, incidents=batch)

        async def batch_arrived() -> bool:
            return hook.count() >= before + batch

        await eventually(batch_arrived, timeout=600, what=f"{batch} deliveries")
        delivered = hook.count() - before
        seconds = time.perf_counter() - started
    return {
        "faults": len(sent),
        "arrived": len(latencies),
        "rate_per_s": rate,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies, default=float("nan")),
        "deliveries": delivered,
        "deliveries_per_s": delivered / seconds,
        "target": "fault-to-webhook p95 < 2 s",
    }


async def run(machines: int, repeats: int, faults: int, rate: float, deliveries: int) -> dict:
    with bench_env("alerts") as env:
        settings = env.settings
        await connect(env.uri, env.db_name, retention_days=settings.retention_days, migrate=True)
        app = create_app(settings, manage_database=False)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        try:
            tenant, faulty = await build_fleet(Factory(client=http, settings=settings), machines)
            twins = MachineTwin.get_pymongo_collection()
            rows, results = [], {}
            now = utcnow() + timedelta(seconds=5)
            for name in ("full", "steady", "idle"):
                times, evaluated, transitions = [], 0, 0
                for r in range(repeats):
                    at = now + timedelta(seconds=10 * (len(results) * repeats + r))
                    if name == "full":
                        await twins.update_many(
                            {"org_id": tenant.org.id}, {"$set": {"alerts_due_at": at}}
                        )
                    elif name == "steady":
                        await twins.update_many(
                            {"_id": {"$in": faulty}}, {"$set": {"alerts_due_at": at}}
                        )
                    seconds, evaluated, moved = await timed_pass(settings, at)
                    times.append(seconds)
                    transitions += moved
                results[name] = {
                    "machines_evaluated": evaluated,
                    "transitions": transitions,
                    "p50_s": percentile(times, 50),
                    "max_s": max(times),
                    "runs": repeats,
                }
                rows.append(
                    [
                        name,
                        evaluated,
                        transitions,
                        f"{percentile(times, 50):.3f}",
                        f"{max(times):.3f}",
                    ]
                )
            fired = await Incident.get_pymongo_collection().count_documents(
                {"org_id": tenant.org.id, "state": "FIRING"}
            )
            wrong = await Incident.get_pymongo_collection().count_documents(
                {"org_id": tenant.org.id, "machine_id": {"$nin": faulty}}
            )
            print(
                f"{machines} machines, {len(faulty)} faulting: "
                f"{fired} incidents firing, {wrong} elsewhere"
            )
            print_table(["pass", "machines", "transitions", "p50 s", "max s"], rows)
            faulty_set = set(faulty)
            healthy = [i for i, m in enumerate(tenant.machines) if m.id not in faulty_set]
            webhooks = await fault_to_webhook(env, tenant, healthy, faults, rate, deliveries)
            print_table(
                ["faults", "arrived", "p50 s", "p95 s", "max s", "deliveries/s"],
                [
                    [
                        webhooks["faults"],
                        webhooks["arrived"],
                        f"{webhooks['p50_s']:.3f}",
                        f"{webhooks['p95_s']:.3f}",
                        f"{webhooks['max_s']:.3f}",
                        f"{webhooks['deliveries_per_s']:.0f}",
                    ]
                ],
            )
            return {
                "webhooks": webhooks,
                "machines": machines,
                "faulting": len(faulty),
                "incidents_firing": fired,
                "incidents_on_clean_machines": wrong,
                "passes": results,
                "target": "a pass over 10,000 machines < 1 s",
            }
        finally:
            await http.aclose()
            await disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--faults", type=int, default=100, help="machines faulting for latency")
    parser.add_argument("--rate", type=float, default=10.0, help="faults reported per second")
    parser.add_argument("--deliveries", type=int, default=500, help="batch for deliveries/s")
    parser.add_argument("--name", default="alerts")
    args = parser.parse_args()
    data = asyncio.run(run(args.machines, args.repeats, args.faults, args.rate, args.deliveries))
    path = write_result(args.name, data)
    print(f"written {path}")


if __name__ == "__main__":
    main()
