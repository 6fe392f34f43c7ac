"""Chaos: a fleet pushes through a flaky network while agents are killed at random and the
API server crashes (SIGKILL) and restarts mid-run; the cloud must end with exactly the
journaled transactions: zero lost, zero duplicated. Reports how long convergence took.

    python -m bench.chaos            # quick: 20 machines x 300 transactions (make bench)
    python -m bench.chaos --full     # the issue's 20 machines x 1,000 transactions
    python -m bench.chaos --no-network-faults --name chaos-direct   # the crash alone
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench.common import ADMIN_PASSWORD, bench_env, create_tenant, print_table, pyplot, write_result
from models.db import connect, disconnect
from simulator.proxy import FaultRates
from simulator.run import SimulationConfig, format_summary, run_simulation


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with bench_env("chaos") as env:
        await connect(env.uri, env.db_name, retention_days=92, migrate=True)
        try:
            tenant = await create_tenant(env.settings, shops=1, machines_per_shop=0)
        finally:
            await disconnect()
        server = env.server(IDEMPOTENCY_LEASE_SECONDS=str(args.lease))
        server.start()
        timeline: list[tuple[float, int]] = []
        events: dict[str, float] = {}
        waiting: dict[str, int] = {}  # machines unfinished at the SIGKILL: their acked then
        recovered: dict[str, float] = {}  # machine -> s from the SIGKILL to its next ack

        live: dict[str, Any] = {}  # the run's state, for the stalls after the run

        async def chaos(state: dict[str, Any]) -> None:
            live.update(state=state)
            started, total = state["started"], state["total"]
            restarted = False
            while True:
                now = time.monotonic()
                timeline.append((round(now - started, 2), state["acked"]))
                acked, done = state["acked_by_machine"], state["finished_machines"]
                for m, n in waiting.items():
                    if m not in recovered and (m in done or acked[m] > n):
                        recovered[m] = round(now - started - events["server_killed"], 2)
                if not restarted and state["acked"] >= args.restart_at * total:
                    waiting.update((m, n) for m, n in acked.items() if m not in done)
                    events["server_killed"] = round(now - started, 2)
                    await asyncio.to_thread(server.kill)
                    await asyncio.sleep(args.downtime)
                    await asyncio.to_thread(server.start)
                    events["server_back"] = round(time.monotonic() - started, 2)
                    restarted = True
                await asyncio.sleep(0.25)

        config = SimulationConfig(
            url=server.graphql_url,
            email=tenant.admin.email,
            password=ADMIN_PASSWORD,
            shops=args.machines // 2,
            machines=2,
            transactions=args.transactions,
            batch_size=args.batch_size,
            seed=args.seed,
            faults=FaultRates.flaky(stall_seconds=args.client_timeout + 1)
            if args.network_faults
            else None,
            kill_every=args.kill_every,
            client_timeout=args.client_timeout,
            converge_timeout=args.timeout,
            state_dir=env.workdir / "sim",
        )
        try:
            result = await run_simulation(config, out=sys.stderr, during=chaos)
        finally:
            server.stop()
    # Machines that waited out a stalled call (the proxy's fault: the answer never comes and
    # the agent's client times out) from just before the SIGKILL to their recovery: their
    # time says what the stall cost, not what the crash did.
    killed, state = events.get("server_killed"), live.get("state", {})
    stalled = {
        m
        for t, m in state.get("stalls", [])
        if killed is not None and m in recovered
        and killed - args.client_timeout <= t - state["started"] <= killed + recovered[m]
    }  # fmt: skip
    unstalled = [s for m, s in recovered.items() if m not in stalled]
    print(format_summary(result))
    v = result.verification
    return {
        "mode": "full" if args.full else "quick",
        "network_faults_injected": args.network_faults,
        "machines": result.machines,
        "transactions": result.journaled,
        "stored": v.stored,
        "lost": sum(len(m.missing) for m in v.machines),
        "duplicated": sum(len(m.duplicated) for m in v.machines),
        "altered": sum(len(m.different) for m in v.machines),
        "verification_ok": v.ok,
        "converged": result.converged,
        "agent_kills": result.kills,
        "network_faults": result.faults,
        "server_restarts": 1 if "server_back" in events else 0,
        "idempotency_lease_seconds": args.lease,
        "elapsed_seconds": round(result.elapsed, 2),
        "server_killed_at": events.get("server_killed"),
        "server_back_at": events.get("server_back"),
        "converged_after_restart_seconds": round(result.elapsed - events["server_back"], 2)
        if "server_back" in events
        else None,
        # from the SIGKILL: the crashed worker's open transactions and claims included
        "converged_after_crash_seconds": round(result.elapsed - events["server_killed"], 2)
        if "server_killed" in events
        else None,
        # until acknowledgements move past their count at the SIGKILL (the restart included)
        "acks_resumed_after_crash_seconds": _resumed(timeline, events.get("server_killed")),
        # until every machine unfinished at the SIGKILL had a batch acknowledged past its
        # count then: no machine left stuck behind the dead worker's transactions or claims
        "every_machine_acknowledged_after_crash_seconds": max(recovered.values())
        if waiting and len(recovered) == len(waiting)
        else None,
        # each machine's own time to its next acknowledgement: the slowest ones waited on
        # their agent's backoff (the flaky network's failures grow it) or on the server
        "machine_acked_after_crash_seconds": sorted(recovered.values()),
        "machines_stalled_after_crash": len(stalled),
        # the crash's own cost: every machine no injected stall held up
        "every_unstalled_machine_acknowledged_after_crash_seconds": max(unstalled)
        if waiting and len(recovered) == len(waiting) and unstalled
        else None,
        "crash_convergence_target_seconds": 15,
        "timeline": timeline,
        "errors": result.errors,
    }


def _resumed(timeline: list[tuple[float, int]], killed: float | None) -> float | None:
    if killed is None:
        return None
    at_kill = max((acked for t, acked in timeline if t <= killed), default=0)
    later = [t for t, acked in timeline if t > killed and acked > at_kill]
    return round(later[0] - killed, 2) if later else None


def chart(result: dict[str, Any], path: str) -> bool:
    """Draw the result to `path`; False when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False

    fig, ax = plt.subplots(figsize=(9, 4))
    ts, acked = zip(*result["timeline"], strict=True) if result["timeline"] else ((), ())
    ax.plot(ts, acked, label="acknowledged by the cloud")
    ax.axhline(result["transactions"], color="grey", linestyle=":", label="journaled")
    if result["server_killed_at"] is not None:
        ax.axvspan(
            result["server_killed_at"], result["server_back_at"], color="red", alpha=0.2,
            label="API server down (SIGKILL + restart)",
        )  # fmt: skip
    ax.set_xlabel("seconds")
    ax.set_ylabel("transactions")
    ax.set_title(
        f"Chaos: {result['machines']} machines, {result['agent_kills']} agent kills, "
        f"lost {result['lost']}, duplicated {result['duplicated']}"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="20 machines x 1,000 transactions")
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--transactions", type=int, help="per machine")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--kill-every", type=float, default=0.5, help="mean s between kills")
    parser.add_argument("--client-timeout", type=float, default=10.0)
    parser.add_argument("--restart-at", type=float, default=0.4, help="fraction acknowledged")
    parser.add_argument("--downtime", type=float, default=1.0, help="s the server stays down")
    parser.add_argument("--lease", type=int, default=30, help="IDEMPOTENCY_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--no-network-faults",
        dest="network_faults",
        action="store_false",
        help="a direct link: what the crash alone costs (agents are still killed)",
    )
    parser.add_argument("--name", default="chaos", help="result name in bench/results/")
    args = parser.parse_args()
    args.transactions = args.transactions or (1000 if args.full else 300)
    result = asyncio.run(run(args))
    print()
    print_table(
        ["machines", "tx", "stored", "lost", "duplicated", "agent kills", "net faults",
         "restarts", "total s", "every machine acked after crash s", "stalled machines",
         "every unstalled machine s", "run done after crash s", "verified"],
        [[result["machines"], result["transactions"], result["stored"], result["lost"],
          result["duplicated"], result["agent_kills"],
          sum(n for k, n in result["network_faults"].items() if k != "passed"),
          result["server_restarts"], result["elapsed_seconds"],
          result["every_machine_acknowledged_after_crash_seconds"],
          result["machines_stalled_after_crash"],
          result["every_unstalled_machine_acknowledged_after_crash_seconds"],
          result["converged_after_crash_seconds"], result["verification_ok"]]],
    )  # fmt: skip
    path = write_result(args.name, result)
    png = str(path.with_suffix(".png"))
    print(f"\nwrote {path}" + (f" and {png}" if chart(result, png) else ""))
    ok = result["verification_ok"] and result["converged"] and result["lost"] == 0
    return 0 if ok and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
