"""Running a simulated fleet: every machine has a local system (traffic and device events ->
`AgentClient`) that journals and sends; optional faults (flaky proxy, agent kills, device
faults) and a hook for more (the chaos benchmark restarts the API server through it); then
the verification: transactions and inventory, twins, and with device faults the alerts."""

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

from agent.outbox import Outbox
from agent.telemetry import TelemetryQueue
from simulator.alerts_check import AlertsCheck, check_alerts, expectations_met, incidents_of
from simulator.api import CloudApi
from simulator.device import SimulatedDevice
from simulator.faults import FaultsSetup, assign, offline_episode, tear_down, until
from simulator.faults import set_up as set_up_faults
from simulator.fleet import FleetMachine, set_up_fleet
from simulator.local_system import LocalSystem
from simulator.proxy import FaultRates, FlakyProxy
from simulator.report import format_summary
from simulator.traffic import MachineTraffic
from simulator.twin_check import TwinCheck, check_twins
from simulator.verify import Verification, verify

__all__ = ["SimulationConfig", "SimulationResult", "format_summary", "run_simulation"]


@dataclass
class SimulationConfig:
    """`transactions` is per machine; `rate` is transactions per second per machine
    (0 = as fast as the cloud takes them); `kill_every` the mean seconds between agent
    kills (0 = never); `faults` enables the flaky proxy; `device_faults` names the device
    faults to inject (simulator/faults.py), which also turns on the alerts check and gives
    the shops `heartbeat_interval` and `offline_grace` (default: long enough for the
    proxy's stalls)."""

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
    device_faults: tuple[str, ...] = ()
    heartbeat_interval: float = 60.0
    offline_grace: int | None = None
    jam_hold: int = 5

    def __post_init__(self) -> None:
        if self.device_faults:
            if self.shops * self.machines <= len(self.device_faults):
                raise ValueError(
                    f"--faults: {len(self.device_faults)} faults need at least "
                    f"{len(self.device_faults) + 1} machines (one stays clean)"
                )
            self.heartbeat_interval = min(self.heartbeat_interval, 1.0)
            if self.offline_grace is None:
                stall = self.faults.stall_seconds if self.faults else 0.0
                self.offline_grace = int(max(8.0, 2 * max(self.client_timeout, stall) + 4))


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
    twins: list[TwinCheck] = field(default_factory=list)
    alerts: AlertsCheck | None = None
    device_faults: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.converged
            and self.verification.ok
            and not self.errors
            and all(t.ok for t in self.twins)
            and (self.alerts is None or self.alerts.ok)
        )


def _systems(fleet: list[FleetMachine], url: str, config: SimulationConfig,
             assigned: dict[str, str]) -> list[LocalSystem]:  # fmt: skip
    now = datetime.now(UTC)
    systems = []
    for n, machine in enumerate(fleet):
        seed = config.seed * 1_000_003 + n
        traffic = MachineTraffic(machine.profile, seed=seed)
        transactions = traffic.generate(config.transactions, now=now)
        fault = assigned.get(machine.machine_id)
        device = SimulatedDevice(
            transactions,
            set(traffic.coins + traffic.small_notes),
            seed=seed,
            box_slot=(traffic.large_notes or traffic.small_notes)[-1],
            jam_fault=fault == "jam",
            full_box=fault == "full",
        )
        systems.append(LocalSystem(machine, transactions, device, url, config, seed))
    return systems


async def _alerts_phase(api: CloudApi, systems: list[LocalSystem], setup: FaultsSetup,
                        assigned: dict[str, str], config: SimulationConfig,
                        labels: dict[str, str]) -> AlertsCheck:  # fmt: skip
    """With every agent still heartbeating: wait until the faults' incidents and their
    deliveries are there, then check them."""
    suspect = {
        s.machine.machine_id
        for s in systems
        if s.client is not None
        and any(m["kind"] == "SUSPECT_NOTES" for _, m in s.client.telemetry.messages())
    }
    ids = [s.machine.machine_id for s in systems]

    async def met() -> bool:
        incidents = await incidents_of(api, ids)
        return expectations_met(assigned, suspect, incidents, setup.receiver)

    with contextlib.suppress(TimeoutError):
        await until(met, within=config.converge_timeout, what="the faults' alerts", interval=0.5)
    return await check_alerts(
        api, faults=assigned, suspect=suspect,
        seen_offline={s.machine.machine_id for s in systems if s.seen_offline},
        machine_ids=ids, labels=labels, receiver=setup.receiver, webhook_id=setup.webhook_id,
    )  # fmt: skip


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
        state["acked_by_machine"] = {s.machine.machine_id: s.acked for s in systems}
        state["finished_machines"] = {s.machine.machine_id for s in systems if s.done}
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
    kills and total counts, `acked_by_machine`, the ids of the `finished_machines`, the
    monotonic `started` time and the proxy's `stalls` (monotonic time, machine id)."""
    api = CloudApi(config.url, config.email, config.password)
    proxy = None
    setup = None
    systems: list[LocalSystem] = []
    background: list[asyncio.Task] = []
    try:
        fleet = await set_up_fleet(
            api,
            shops=config.shops,
            machines=config.machines,
            run_id=config.run_id,
            state_dir=config.state_dir,
        )
        assigned = {}
        if config.device_faults:
            assigned = assign(config.device_faults, [m.machine_id for m in fleet])
            setup = await set_up_faults(
                api, sorted({m.shop_id for m in fleet}),
                heartbeat=max(1, round(config.heartbeat_interval)),
                grace=config.offline_grace or 600, jam_hold=config.jam_hold,
            )  # fmt: skip
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
        systems = _systems(fleet, agent_url, config, assigned)
        labels = {
            s.machine.machine_id: f"{s.machine.serial} {s.machine.profile.currency}"
            + (f" [{assigned[s.machine.machine_id]}]" if s.machine.machine_id in assigned else "")
            for s in systems
        }
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
            "acked_by_machine": {},
            "finished_machines": set(),
            "stalls": proxy.stalls if proxy is not None else [],
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
        episodes = [
            asyncio.create_task(offline_episode(s, api, within=config.converge_timeout))
            for s in systems
            if assigned.get(s.machine.machine_id) == "offline"
        ]
        background = [*helpers, *episodes]
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
        errors = [s.error for s in systems if s.error]
        for outcome in await asyncio.gather(*episodes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                errors.append(f"offline fault: {outcome}")
        checked_alerts = None
        if setup is not None and converged:
            checked_alerts = await _alerts_phase(api, systems, setup, assigned, config, labels)
        await _shut_down(systems)
        if out is not None and out.isatty():
            out.write("\n")
        journals, telemetry = {}, {}
        for s in systems:
            outbox = Outbox(s.machine.outbox_path, s.machine.machine_id)
            journals[s.machine.machine_id] = outbox.records()
            telemetry[s.machine.machine_id] = TelemetryQueue(outbox).messages()
            outbox.close()
        verification = await verify(api, journals)
        twins = await check_twins(api, telemetry)
        return SimulationResult(
            run_id=config.run_id,
            machines=len(systems),
            journaled=sum(len(j) for j in journals.values()),
            elapsed=elapsed,
            converged=converged,
            kills=state["kills"],
            faults=dict(proxy.stats) if proxy else {},
            verification=verification,
            errors=errors,
            labels=labels,
            outboxes={s.machine.machine_id: s.machine.outbox_path for s in systems},
            twins=twins,
            alerts=checked_alerts,
            device_faults=assigned,
        )
    finally:
        # Also when something above failed: no system, helper or fault keeps running, and
        # the organization gets its rules and webhooks back.
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await _shut_down(systems)
        if proxy is not None:
            await proxy.stop()
        if setup is not None:
            await tear_down(api, setup)
        await api.aclose()


async def _shut_down(systems: list[LocalSystem]) -> None:
    """Close the finished systems (a last flush), kill the others; idempotent."""
    for s in systems:
        if s.done:
            await s.close()
        else:
            await s.kill()


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%m%d%H%M%S") + uuid.uuid4().hex[:4]
