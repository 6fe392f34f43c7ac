"""`python -m agent`: run the reference client against an existing outbox.

    CASHCC_API_KEY=cck_... python -m agent run    [--url URL] --machine-id ID --outbox FILE
    CASHCC_API_KEY=cck_... python -m agent flush  [--url URL] --machine-id ID --outbox FILE
    python -m agent status --machine-id ID --outbox FILE

`run` keeps sending until SIGINT/SIGTERM; `flush` sends what is pending and exits (0 when
everything was acknowledged); `status` prints the outbox counts, quarantined records and
telemetry dead letters.
The API key comes from the environment so it never shows in the process list. `--url`
defaults to this host's API (`HOST`/`PORT`, like `cashcc simulate`). Mistakes (a missing
outbox, an outbox of another machine, a refused key) print one `error:` line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from agent.client import AgentClient, AgentError
from agent.outbox import Outbox, OutboxError
from agent.telemetry import TelemetryQueue
from config import get_settings

FALLBACK_URL = "http://127.0.0.1:8000/graphql"


def default_url() -> str:
    """This host's API from the settings (HOST, PORT); the stock port when they are invalid."""
    try:
        return get_settings().local_graphql_url
    except ValidationError:
        return FALLBACK_URL


async def _send(args: argparse.Namespace, api_key: str) -> int:
    client = AgentClient(
        args.url,
        api_key,
        args.machine_id,
        args.outbox,
        batch_size=args.batch_size,
        heartbeat_interval=args.heartbeat_interval,
    )
    try:
        if args.command == "flush":
            report = await client.flush()
            print(f"acknowledged {report.accepted} new, {report.duplicates} duplicates, "
                  f"{report.rejected} quarantined; telemetry {report.messages} delivered, "
                  f"{report.dead} dead letters")  # fmt: skip
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await client.run(stop)
        return 0 if client.status().pending == 0 and not client.telemetry.pending() else 1
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


def _status(args: argparse.Namespace) -> int:
    if not Path(args.outbox).is_file():
        print(f"error: --outbox: no outbox at {args.outbox}", file=sys.stderr)
        return 2
    outbox = Outbox(args.outbox, args.machine_id)
    try:
        telemetry = TelemetryQueue(outbox)
        print(outbox.status())
        print(telemetry.status())
        for q in outbox.quarantined():
            print(f"quarantined seq {q.seq}: {q.code} {q.message}")
        for d in telemetry.dead_letters():
            print(f"dead letter {d.event_id} ({d.message['kind']}): {d.code} {d.reason}")
    finally:
        outbox.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "command",
        choices=["run", "flush", "status"],
        help="run: send until stopped; flush: send what is pending; status: outbox counts",
    )
    parser.add_argument("--url", default=default_url(), help="GraphQL endpoint")
    parser.add_argument("--machine-id", required=True, help="the machine's id (registerMachine)")
    parser.add_argument("--outbox", required=True, help="the machine's outbox file (SQLite)")
    parser.add_argument("--batch-size", type=int, default=100, help="transactions per request")
    parser.add_argument(
        "--heartbeat-interval", type=float, default=60.0, help="run: seconds between heartbeats"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.command == "status":
            return _status(args)
        api_key = os.environ.get("CASHCC_API_KEY")
        if not api_key:
            parser.error("the CASHCC_API_KEY environment variable is required")
        return asyncio.run(_send(args, api_key))
    except OutboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
