"""How often the database driver loses a task's cancellation (models/background.py).

Each call runs in its own task, which is cancelled 0 to 3 ms after it starts. A call still
running at that moment (`task.cancel()` returned True) should end in CancelledError; the
table counts those that returned a result instead: a loop relying on the CancelledError alone
would have run on. Not a speed target: the number the background loops' per-round check
(`models.background.run_rounds`) exists for, re-measured on a driver upgrade.

    python -m bench.cancellation                 # 300 calls of each kind
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from pymongo import AsyncMongoClient
from pymongo import version as pymongo_version

from bench.common import bench_env, print_table, write_result


async def count_lost(call: Callable[[], Awaitable[object]], calls: int) -> dict[str, int]:
    """Run `call` `calls` times, cancelling each 0-3 ms in; how many ended which way."""
    outcome = {"finished_first": 0, "cancelled": 0, "returned_after_cancel": 0}
    for n in range(calls):
        task = asyncio.create_task(call())
        await asyncio.sleep(0.0005 * (n % 7))
        accepted = task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            outcome["cancelled"] += 1
            continue
        outcome["returned_after_cancel" if accepted else "finished_first"] += 1
    return outcome


async def run(uri: str, db_name: str, calls: int) -> dict[str, dict[str, int]]:
    client: AsyncMongoClient = AsyncMongoClient(uri, timeoutMS=10_000)
    collection = client[db_name]["cancellation_probe"]
    await collection.update_one({"_id": 0}, {"$set": {"n": 0}}, upsert=True)
    kinds: dict[str, Callable[[], Awaitable[object]]] = {
        "find_one": lambda: collection.find_one({"_id": 0}),
        "update_one": lambda: collection.update_one({"_id": 0}, {"$inc": {"n": 1}}),
        "hello": lambda: client.admin.command("hello"),
    }
    try:
        return {name: await count_lost(call, calls) for name, call in kinds.items()}
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls of each kind")
    args = parser.parse_args()
    with bench_env("cancellation") as env:
        results = asyncio.run(run(env.uri, env.db_name, args.calls))
    rows = []
    for name, outcome in results.items():
        running = outcome["cancelled"] + outcome["returned_after_cancel"]
        rows.append([name, running, outcome["returned_after_cancel"], outcome["finished_first"]])
    print(f"pymongo {pymongo_version}, {args.calls} calls of each kind")
    print_table(["call", "cancelled mid-flight", "of those returned normally", "done first"], rows)
    path = write_result(
        "cancellation",
        {"pymongo": pymongo_version, "calls": args.calls, "results": results},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
