"""Telemetry benchmark: a fleet heartbeating through a real API server, a replay after an
outage, and the connectivity evaluator's pass over the whole fleet.

On a fresh embedded database (or MONGODB_URI), one organization of 100 shops with
`--machines` machines (one shop key each, each with the twin of a running machine: LIVE, its
alerts looked at) and one uvicorn process with the health and alert
evaluators at their production intervals:

- `steady`: every machine heartbeats once per `--interval` (one call each, at its own
  offset), and a fifth of them per interval also report a status change (COUNTING, IDLE);
  request latency, messages/s and the server's CPU (share of one core, and per message);
- `replay`: `--outage-machines` machines come back after `--outage-minutes` offline and
  replay it through the reference agent (`AgentClient.flush()`, all at once, from their
  SQLite outboxes): one heartbeat a minute and two status events every 6 minutes each,
  while the rest of the fleet keeps its steady load; messages/s until drained;
- `evaluator`: with the server stopped, connectivity passes in-process: `idle` (nothing
  due) and `all due` (every twin silent past its offline grace: one transition each).

Targets (embedded database, 10,000 machines): steady p95 < 50 ms using under 30 % of one
core; the replay drains at >= 2,000 messages/s; an evaluator pass over 10,000 machines < 1 s.

    python -m bench.telemetry            # 10,000 machines, 60 s heartbeats, 3 minutes
    python -m bench.telemetry --quick    # 100 machines, 10 s heartbeats: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from bson import ObjectId

from agent import AgentClient
from bench.common import bench_env, create_tenant, percentile, print_table, write_result
from models.db import connect, disconnect
from models.health import MachineTwin
from models.machine import Machine
from resolvers.health.evaluator import evaluate_connectivity
from resolvers.health.settings import deployment_defaults
from resolvers.health.twin import mark_alerts_due, new_twin, seen
from tests.factories import REPORT
from tests.servers import ApiServer, running

SHOPS = 100
STATUS_SHARE = 0.2


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_last_seq = [0]


def _message(kind: str, section: dict[str, Any], at: datetime) -> dict[str, Any]:
    # Increasing per machine like the agent's: the time in microseconds, never repeated.
    seq = _last_seq[0] = max(_last_seq[0] + 1, time.time_ns() // 1000)
    body = {"eventId": uuid.uuid4().hex, "seq": seq, "observedAt": _iso(at), "kind": kind}
    return {**body, kind.lower(): section}


async def build_fleet(settings, machines: int) -> tuple[list[str], list[str]]:
    """`machines` machines over SHOPS shops (fewer for a small fleet); (machine ids, the key
    of each machine's shop)."""
    shops = max(1, min(SHOPS, machines))
    tenant = await create_tenant(settings, shops=shops, machines_per_shop=1)
    per_shop = max(1, machines // shops)
    docs = Machine.get_pymongo_collection()
    templates = {m["_id"]: m for m in await docs.find({"org_id": tenant.org.id}).to_list()}
    ids, keys, new = [], [], []
    for machine, key in zip(tenant.machines, tenant.machine_keys, strict=True):
        base = templates[machine.id]
        for k in range(per_shop):
            doc = base if k == 0 else {**base, "_id": ObjectId(), "serial": uuid.uuid4().hex}
            if k:
                new.append(doc)
            ids.append(str(doc["_id"]))
            keys.append(key)
    for start in range(0, len(new), 1000):
        await docs.insert_many(new[start : start + 1000])
    twins = [_running_twin(d, settings) for d in [*templates.values(), *new]]
    for start in range(0, len(twins), 1000):
        await MachineTwin.get_pymongo_collection().insert_many(twins[start : start + 1000])
    return ids, keys


def _running_twin(machine: dict[str, Any], settings) -> dict[str, Any]:
    """The twin of a machine that has been heartbeating for a while (LIVE, heard from a
    moment ago, its alerts looked at): the steady phase measures a running fleet's beats,
    not every machine's first contact (which creates its twin and evaluates its alerts)."""
    now = datetime.now(UTC)
    thresholds = deployment_defaults(settings).thresholds
    ids = SimpleNamespace(id=machine["_id"], org_id=machine["org_id"], shop_id=machine["shop_id"])
    twin = new_twin(ids, thresholds)  # type: ignore[arg-type]
    seen(twin, now, thresholds)
    beat = {"agent_version": "bench 1", "outbox_backlog": 0, "device_heartbeat_at": now}
    twin["sections"]["heartbeat"] = {"value": beat, "seq": 0, "event_id": "seed",
                                     "observed_at": now, "received_at": now}  # fmt: skip
    mark_alerts_due(twin, now)
    del twin["alerts_due_at"]  # looked at: nothing due (absent, as MachineTwin.DEADLINES says)
    twin["version"] = 1
    return twin


class Load:
    """The steady load: each machine's heartbeat once per interval at its own offset, and
    status changes of a fifth of them; latencies and message counts per phase."""

    def __init__(self, url: str, ids: list[str], keys: list[str], interval: float) -> None:
        self.url, self.ids, self.keys, self.interval = url, ids, keys, interval
        self.latencies: list[float] = []
        self.messages = 0
        self.failures = 0
        self.reasons: Counter[str] = Counter()
        self.rng = random.Random(1)
        self.http = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
        )
        # At most as many calls in flight as the pool has connections: with thousands queued
        # in httpx's pool, assigning them to connections (quadratic) took the whole core and
        # the load generator, not the server, set the pace (first full run, 2026-12-02).
        self.in_flight = asyncio.Semaphore(200)
        self._queued: set[asyncio.Task] = set()  # due calls waiting for a free connection
        self.offered = 0  # calls that came due
        self.unsent = 0  # due calls still waiting when the load stopped: the server fell behind

    def reset(self) -> None:
        self.latencies, self.messages, self.failures = [], 0, 0
        self.reasons = Counter()
        self.offered = self.unsent = 0

    async def _send(self, index: int, messages: list[dict[str, Any]]) -> None:
        body = {"query": REPORT, "variables": {"input": {"machineId": self.ids[index],
                                                         "messages": messages}}}  # fmt: skip
        task = asyncio.current_task()
        assert task is not None
        self._queued.add(task)
        try:
            async with self.in_flight:
                self._queued.discard(task)
                await self._post(index, body, messages)
        finally:
            self._queued.discard(task)

    async def _post(self, index: int, body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        try:
            answer = await self.http.post(
                self.url, json=body, headers={"X-API-Key": self.keys[index]}
            )
            result = answer.json()["data"]["reportMachineTelemetry"]
            ok = result["accepted"] + result["stale"] == len(messages)
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            ok = False
        self.latencies.append(time.perf_counter() - started)
        self.messages += len(messages) if ok else 0
        self.failures += 0 if ok else 1

    def _calls(self, index: int, now: datetime) -> list[list[dict[str, Any]]]:
        beat = {"agentVersion": "bench 1", "outboxBacklog": 0, "deviceHeartbeatAt": _iso(now)}
        calls = [[_message("HEARTBEAT", beat, now)]]
        if self.rng.random() < STATUS_SHARE:
            calls.append(
                [_message("STATUS", {"code": 4}, now), _message("STATUS", {"code": 1}, now)]
            )
        return calls

    async def run(self, machines: range, stop: asyncio.Event) -> None:
        """Until `stop`: machine i sends at offset i/len * interval of every interval."""
        tasks: set[asyncio.Task] = set()
        started = time.monotonic()
        count = len(machines)
        sent = 0
        while not stop.is_set():
            due = int((time.monotonic() - started) / self.interval * count)
            while sent < due:
                index = machines[sent % count]
                for call in self._calls(index, datetime.now(UTC)):
                    task = asyncio.create_task(self._send(index, call))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    self.offered += 1
                sent += 1
            await asyncio.sleep(0.01)
        # Calls still queued behind the pool were never sent: not waited for (an overloaded
        # server would take minutes to drain them), counted.
        for task in list(self._queued):
            task.cancel()
            self.unsent += 1
        await asyncio.gather(*tasks, return_exceptions=True)


def _phase(name: str, load: Load, seconds: float, cpu: float) -> dict[str, Any]:
    return {
        "phase": name,
        "seconds": seconds,
        "requests": len(load.latencies),
        # offered against answered: when the server falls behind, calls queue in the generator
        "calls_due_per_s": load.offered / seconds,
        "calls_answered_per_s": len(load.latencies) / seconds,
        "calls_queued_at_end": len(load._queued),
        "failures": load.failures,
        "failure_reasons": dict(load.reasons),
        "messages": load.messages,
        "messages_per_s": load.messages / seconds,
        "p50_ms": percentile(load.latencies, 50) * 1000,
        "p95_ms": percentile(load.latencies, 95) * 1000,
        "server_core_share": cpu / seconds,
        "server_cpu_us_per_message": cpu / max(1, load.messages) * 1e6,
    }


def _outbox_backlog(client: AgentClient, minutes: int, now: datetime) -> int:
    """An hour offline as the agent journaled it: a heartbeat a minute, two status events
    every 6 minutes."""
    events = []
    for m in range(minutes, 0, -1):
        at = now - timedelta(minutes=m)
        backlog = {"agentVersion": "bench 1", "outboxBacklog": minutes - m,
                   "outboxOldestAgeSeconds": (minutes - m) * 60}  # fmt: skip
        events.append(("HEARTBEAT", backlog, at))
        if m % 6 == 0:
            events += [("STATUS", {"code": 4}, at), ("STATUS", {"code": 1}, at)]
    client.telemetry.report_many(events)
    return len(events)


async def replay(server: ApiServer, ids: list[str], keys: list[str], count: int, minutes: int,
                 workdir) -> dict[str, Any]:  # fmt: skip
    now = datetime.now(UTC)
    clients = [
        AgentClient(server.graphql_url, keys[i], ids[i], workdir / f"outbox-{i}.sqlite")
        for i in range(count)
    ]
    queued = sum(_outbox_backlog(c, minutes, now) for c in clients)
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    reports = await asyncio.gather(*(c.flush() for c in clients))
    seconds = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu
    for c in clients:
        await c.aclose()
    delivered = sum(r.messages for r in reports)
    return {
        "machines": count,
        "queued": queued,
        "delivered": delivered,
        "dead": sum(r.dead for r in reports),
        "retries": sum(r.retries for r in reports),
        "seconds": seconds,
        "messages_per_s": delivered / seconds,
        "server_cpu_us_per_message": cpu / max(1, delivered) * 1e6,
    }


async def evaluator_passes(settings) -> list[dict[str, Any]]:
    rows = []
    latest = await MachineTwin.get_pymongo_collection().find_one(sort=[("last_seen_at", -1)])
    base = latest["last_seen_at"].replace(tzinfo=UTC) if latest else datetime.now(UTC)
    for name, at in (("idle", base), ("all due", base + timedelta(hours=2))):
        result = await evaluate_connectivity(now=at, settings=settings)
        rows.append({"pass": name, "examined": result.examined,
                     "transitions": result.transitions, "seconds": result.seconds})  # fmt: skip
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with bench_env("telemetry") as env:
        settings = env.settings
        await connect(env.uri, env.db_name, retention_days=settings.retention_days, migrate=True)
        try:
            ids, keys = await build_fleet(settings, args.machines)
            print(f"fleet of {len(ids)} machines built; steady load", flush=True)
            server = env.server(
                health_evaluator_interval_seconds="5",
                alert_evaluator_interval_seconds=str(args.alert_evaluator),
            )
            with running(server):
                load = Load(server.graphql_url, ids, keys, args.interval)
                stop = asyncio.Event()
                steady = asyncio.create_task(load.run(range(len(ids)), stop))
                await asyncio.sleep(args.interval / 4)  # connections open, caches warm
                load.reset()
                cpu, started = server.cpu_seconds(), time.perf_counter()
                for _ in range(max(1, round(args.duration / 5))):
                    await asyncio.sleep(args.duration / max(1, round(args.duration / 5)))
                    print(
                        f"  {len(load.latencies)} requests, {load.failures} failed, p95 "
                        f"{percentile(load.latencies, 95) * 1000:.0f} ms",
                        flush=True,
                    )
                phases = [_phase("steady", load, time.perf_counter() - started,
                                 server.cpu_seconds() - cpu)]  # fmt: skip
                stop.set()
                await steady
                outage = min(args.outage_machines, len(ids) // 2)
                print(f"replay of {outage} machines", flush=True)
                stop = asyncio.Event()
                load.reset()
                others = asyncio.create_task(load.run(range(outage, len(ids)), stop))
                cpu, started = server.cpu_seconds(), time.perf_counter()
                replayed = await replay(server, ids, keys, outage, args.outage_minutes, env.workdir)
                phases.append(_phase("steady during replay", load, time.perf_counter() - started,
                                     server.cpu_seconds() - cpu))  # fmt: skip
                stop.set()
                await others
                await load.http.aclose()
            print("evaluator passes", flush=True)
            passes = await evaluator_passes(settings)
        finally:
            await disconnect()
    print(f"{len(ids)} machines, heartbeat every {args.interval:.0f} s")
    print_table(
        ["phase", "s", "calls due/s", "answered/s", "queued", "fail", "msg/s", "p50 ms",
         "p95 ms", "core %", "cpu us/msg"],
        [[p["phase"], f"{p['seconds']:.0f}", f"{p['calls_due_per_s']:.0f}",
          f"{p['calls_answered_per_s']:.0f}", p["calls_queued_at_end"], p["failures"],
          f"{p['messages_per_s']:.0f}", f"{p['p50_ms']:.1f}", f"{p['p95_ms']:.1f}",
          f"{p['server_core_share'] * 100:.0f}", f"{p['server_cpu_us_per_message']:.0f}"]
         for p in phases],
    )  # fmt: skip
    print_table(
        ["replay machines", "messages", "dead", "retries", "s", "msg/s", "cpu us/msg"],
        [[replayed["machines"], replayed["delivered"], replayed["dead"], replayed["retries"],
          f"{replayed['seconds']:.1f}", f"{replayed['messages_per_s']:.0f}",
          f"{replayed['server_cpu_us_per_message']:.0f}"]],
    )  # fmt: skip
    print_table(["evaluator pass", "examined", "transitions", "s"],
                [[p["pass"], p["examined"], p["transitions"], f"{p['seconds']:.3f}"]
                 for p in passes])  # fmt: skip
    return {
        "machines": len(ids),
        "interval_s": args.interval,
        "alert_evaluator_interval_s": args.alert_evaluator,
        "phases": phases,
        "replay": replayed,
        "evaluator": passes,
        "targets": {
            "steady": "p95 < 50 ms, server under 30 % of one core (10,000 machines)",
            "replay": ">= 2,000 messages/s",
            "evaluator": "a pass over 10,000 machines < 1 s",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0, help="heartbeat seconds")
    parser.add_argument("--duration", type=float, default=180.0, help="measured steady seconds")
    parser.add_argument("--outage-machines", type=int, default=1_000)
    parser.add_argument("--outage-minutes", type=int, default=60)
    parser.add_argument(
        "--alert-evaluator", type=float, default=1.0,
        help="the server's ALERT_EVALUATOR_INTERVAL_SECONDS (0: off, to see its share)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="100 machines, 10 s heartbeats")
    parser.add_argument("--name", default=None, help="result file (default telemetry[-quick])")
    args = parser.parse_args()
    if args.quick:
        args.machines, args.interval, args.duration = 100, 10.0, 15.0
        args.outage_machines = 30
    data = asyncio.run(run(args))
    path = write_result(args.name or ("telemetry-quick" if args.quick else "telemetry"), data)
    print(f"written {path}")


if __name__ == "__main__":
    main()
