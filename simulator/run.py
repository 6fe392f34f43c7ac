"""Running a simulated fleet: every machine has a local system (traffic -> `AgentClient`)
that journals and sends; optional faults (flaky proxy, agent kills) and a hook for more
(the chaos benchmark restarts the API server through it); then the verification."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from agent import AgentClient, RetryPolicy
from agent.outbox import Outbox
from simulator.api import CloudApi
from simulator.fleet import FleetMachine, set_up_fleet
from simulator.proxy import FaultRates, FlakyProxy
from simulator.traffic import MachineTraffic
from simulator.verify import Verification, verify


@dataclass
class SimulationConfig:
    """`transactions` is per machine; `rate` is transactions per second per machine
    (0 = as fast as the cloud takes them); `kill_every` the mean seconds between agent
    kills (0 = never); `faults` enables the flaky proxy."""

    url: str
    email: str
    password: str
    shops: int = 5
    machines: int = 2
    transactions: int = 200
    seed: int = 42
    batch_size: int = 100
    rate: float = 0.0
    faults: FaultRates | None = None
    kill_every: float = 0.0
    client_timeout: float = 30.0
    converge_timeout: float = 600.0
    state_dir: Path = Path("var/sim")
    run_id: str = field(default_factory=lambda: new_run_id())


@dataclass
class SimulationResult:
    run_id: str
    machines: int
    journaled: int
    elapsed: float
    converged: bool
    kills: int
    faults: dict[str, int]
    verification: Verification
    errors: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    outboxes: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.converged and self.verification.ok and not self.errors


class LocalSystem:
    """One machine's local system: journals its traffic and runs the agent; can be killed
    (task cancelled, files closed with no cleanup) and restarted on the same outbox."""

    def __init__(self, machine: FleetMachine, transactions: list[dict[str, Any]], url: str,
                 config: SimulationConfig, seed: int) -> None:  # fmt: skip
        self.machine = machine
        self.transactions = transactions
        self.url = url
        self.config = config
        self.rng = random.Random(seed)
        self.client: AgentClient | None = None
        self.task: asyncio.Task | None = None
        self.done = False
        self.error: str | None = None
        self.journaled = 0
        self.acked = 0
        self.settled = asyncio.Event()  # set when this system finished or failed

    def start(self) -> None:
        self.client = AgentClient(
            self.url,
            self.machine.api_key,
            self.machine.machine_id,
            self.machine.outbox_path,
            batch_size=self.config.batch_size,
            timeout=self.config.client_timeout,
            policy=RetryPolicy(base=0.05, max_delay=2.0, rng=random.Random(self.rng.random())),
        )
        self.task = asyncio.create_task(self._life(self.client))

    async def _life(self, client: AgentClient) -> None:
        stop = asyncio.Event()
        sender = asyncio.create_task(client.run(stop, idle_seconds=0.1))
        try:
            position = client.status().next_seq - 1  # what the outbox already holds
            step = 1 if self.config.rate else self.config.batch_size
            while position < len(self.transactions):
                chunk = self.transactions[position : position + step]
                client.journal_many(chunk)
                position += len(chunk)
                self.journaled = position
                if self.config.rate:
                    await asyncio.sleep(len(chunk) / self.config.rate)
                else:
                    await asyncio.sleep(0)
                if sender.done():
                    break
            stop.set()
            await sender
            self.done = True
        except Exception as exc:
            self.error = f"{self.machine.serial}: {type(exc).__name__}: {exc}"
        finally:
            if self.done or self.error:
                self.settled.set()
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender

    def refresh(self) -> None:
        if self.client is not None and self.task is not None and not self.task.done():
            status = self.client.status()
            self.journaled = status.next_seq - 1
            self.acked = status.acked
        elif self.client is not None and self.done:
            self.acked = self.journaled

    async def kill(self) -> None:
        """Like SIGKILL: stop mid-whatever; SQLite keeps only committed state."""
        if self.task is None or self.client is None:
            return
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.client.aclose()
        self.client = None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None


async def _progress(systems: list[LocalSystem], total: int, out: TextIO | None,
                    state: dict[str, Any], stop: asyncio.Event) -> None:  # fmt: skip
    interactive = out is not None and out.isatty()
    next_line = 0.0
    while True:
        final = stop.is_set()
        if final:
            next_line = 0.0  # always show where the run ended
        for s in systems:
            s.refresh()
        state["journaled"] = sum(s.journaled for s in systems)
        state["acked"] = sum(s.acked for s in systems)
        if out is not None:
            done = state["acked"] / total if total else 1.0
            bar = "#" * int(done * 30)
            line = (
                f"[{bar:<30}] {done:5.1%}  journaled {state['journaled']}/{total}"
                f"  acknowledged {state['acked']}  kills {state['kills']}"
            )
            if interactive:
                out.write(f"\r{line}   ")
            elif time.monotonic() >= next_line:
                # Logs and pipes get a line every few seconds instead of a redrawn bar.
                out.write(line + "\n")
                next_line = time.monotonic() + 5
            out.flush()
        if final:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _killer(systems: list[LocalSystem], every: float, rng: random.Random,
                  state: dict[str, Any]) -> None:  # fmt: skip
    while True:
        await asyncio.sleep(rng.expovariate(1 / every))
        alive = [s for s in systems if not s.done and s.client is not None]
        if not alive:
            continue
        victim = rng.choice(alive)
        await victim.kill()
        state["kills"] += 1
        await asyncio.sleep(rng.uniform(0, 0.3))
        victim.start()


async def run_simulation(
    config: SimulationConfig,
    *,
    out: TextIO | None = sys.stderr,
    during: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> SimulationResult:
    """Set up the fleet, run it to convergence (or `converge_timeout`), verify, and return
    the result. `during(state)` runs alongside; `state` holds the live journaled, acked,
    kills and total counts and the monotonic `started` time."""
    api = CloudApi(config.url, config.email, config.password)
    proxy = None
    try:
        fleet = await set_up_fleet(
            api,
            shops=config.shops,
            machines=config.machines,
            run_id=config.run_id,
            state_dir=config.state_dir,
        )
        agent_url = config.url
        if config.faults is not None:
            target = urlsplit(config.url)
            proxy = FlakyProxy(
                target.hostname or "127.0.0.1",
                target.port or 80,
                config.faults,
                seed=config.seed,
            )
            await proxy.start()
            agent_url = f"http://127.0.0.1:{proxy.port}{target.path}"
        now = datetime.now(UTC)
        systems = []
        for n, machine in enumerate(fleet):
            seed = config.seed * 1_000_003 + n
            traffic = MachineTraffic(machine.profile, seed=seed).generate(
                config.transactions, now=now
            )
            systems.append(LocalSystem(machine, traffic, agent_url, config, seed))
        total = sum(len(s.transactions) for s in systems)
        settled = asyncio.Event()
        for s in systems:
            s.settled = settled
        started = time.monotonic()
        state: dict[str, Any] = {
            "journaled": 0,
            "acked": 0,
            "kills": 0,
            "total": total,
            "started": started,
        }
        for s in systems:
            s.start()
        stop = asyncio.Event()
        helpers = [asyncio.create_task(_progress(systems, total, out, state, stop))]
        if config.kill_every > 0:
            rng = random.Random(config.seed)
            helpers.append(asyncio.create_task(_killer(systems, config.kill_every, rng, state)))
        if during is not None:
            helpers.append(asyncio.create_task(during(state)))
        deadline = started + config.converge_timeout
        while True:
            settled.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or all(s.done or s.error for s in systems):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), remaining)
        elapsed = time.monotonic() - started
        converged = all(s.done for s in systems)
        stop.set()
        for task in helpers[1:]:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        for s in systems:
            await s.kill() if not s.done else await s.close()
        if out is not None and out.isatty():
            out.write("\n")
        journals = {}
        for s in systems:
            outbox = Outbox(s.machine.outbox_path, s.machine.machine_id)
            journals[s.machine.machine_id] = outbox.records()
            outbox.close()
        verification = await verify(api, journals)
        return SimulationResult(
            run_id=config.run_id,
            machines=len(systems),
            journaled=sum(len(j) for j in journals.values()),
            elapsed=elapsed,
            converged=converged,
            kills=state["kills"],
            faults=dict(proxy.stats) if proxy else {},
            verification=verification,
            errors=[s.error for s in systems if s.error],
            labels={
                s.machine.machine_id: f"{s.machine.serial} {s.machine.profile.currency}"
                for s in systems
            },
            outboxes={s.machine.machine_id: s.machine.outbox_path for s in systems},
        )
    finally:
        if proxy is not None:
            await proxy.stop()
        await api.aclose()


def format_summary(result: SimulationResult) -> str:
    """The human-readable end-of-run report."""
    v = result.verification
    rate = result.journaled / result.elapsed if result.elapsed else 0.0
    lines = [
        f"run {result.run_id}: {result.machines} machines, {result.journaled} transactions "
        f"journaled in {result.elapsed:.1f}s ({rate:.0f} tx/s)"
        + ("" if result.converged else "  -- DID NOT CONVERGE"),
        f"agent kills: {result.kills}; network faults: "
        + (", ".join(f"{k} {n}" for k, n in sorted(result.faults.items())) or "none"),
        f"{'machine':<30} {'journaled':>9} {'in cloud':>9} {'sum journaled':>15} "
        f"{'sum in cloud':>15}  check",
    ]
    for m in v.machines:
        check = "ok" if m.ok else "MISMATCH: " + "; ".join(m.problems())
        lines.append(
            f"{result.labels.get(m.machine_id, m.machine_id):<30} {m.journaled:>9} "
            f"{m.stored:>9} {m.journaled_sum:>15} {m.stored_sum:>15}  {check}"
        )
    lines += [f"error: {e}" for e in result.errors]
    lines.append(
        f"verification: {'OK' if v.ok else 'FAILED'} - cloud holds {v.stored} of "
        f"{v.journaled} journaled transactions"
        + (", counts, sums and per-denomination inventory match" if v.ok else "")
    )
    return "\n".join(lines)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%m%d%H%M%S") + uuid.uuid4().hex[:4]
