"""`cashcc` commands: serve, migrate, create-org, embedded-db, orgs, shops, machines, keys,
simulate, rebuild-summaries, and the audit commands (cli/audit.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pymongo.errors import PyMongoError

from cli.audit import add_audit_commands
from cli.serve import cmd_serve
from config import Settings, configuration_problems, get_settings
from models.embedded import EmbeddedDatabaseError, running_server, start_server, stop_server
from resolvers.errors import ServiceError
from resolvers.system import SchemaBehind, close_database, migrate, open_database

log = logging.getLogger("cashcc")


async def with_database(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    await open_database(settings)
    try:
        return await work()
    finally:
        await close_database()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Create every collection and index, drop legacy ones, set the retention TTL; safe to run
    again (prints what it changed, or that nothing was to do)."""
    changes = asyncio.run(migrate(settings))
    for change in changes:
        print(change)
    print(f"schema up to date ({len(changes)} change(s))")
    return 0


def cmd_create_org(args: argparse.Namespace, settings: Settings) -> int:
    """Create an organization and its first ORG_ADMIN."""
    from resolvers.fleet.organizations import create_organization

    try:
        org, admin = asyncio.run(
            with_database(
                settings,
                lambda: create_organization(
                    name=args.name,
                    currency=args.currency,
                    timezone=args.timezone,
                    admin_email=args.admin_email,
                    admin_password=args.admin_password,
                ),
            )
        )
    except ServiceError as exc:
        for error in exc.errors:
            print(f"error: {error.field}: {error.message}", file=sys.stderr)
        return 1
    print(f"organization {org.name} created: id {org.id}; admin {admin.email}")
    return 0


def cmd_embedded_db(args: argparse.Namespace, settings: Settings) -> int:
    """Status, start or stop of the embedded database under VAR_DIR."""
    handle = running_server(settings.var_dir)
    if args.action == "status":
        print(f"running at {handle.uri} (pid {handle.pid})" if handle else "not running")
    elif args.action == "start":
        handle = handle or start_server(settings.embedded_db_dir, settings.var_dir)
        print(f"running at {handle.uri} (pid {handle.pid})")
    elif handle is not None:
        stop_server(handle)
        print("stopped")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Run a simulated fleet against a running API; exit 1 unless the cloud holds exactly
    what the shops journaled."""
    import httpx

    if args.cleanup:
        from cli.listing import cleanup_run

        state_dir = args.state_dir or settings.var_dir / "sim"
        return asyncio.run(with_database(settings, lambda: cleanup_run(args.cleanup, state_dir)))

    from simulator.api import ApiError
    from simulator.faults import parse_faults
    from simulator.proxy import FaultRates
    from simulator.run import SimulationConfig, format_summary, run_simulation

    faults = None
    if args.flaky or any((args.drop, args.reset, args.stall, args.duplicate)):
        base = FaultRates.flaky() if args.flaky else FaultRates()
        faults = FaultRates(
            drop=args.drop if args.drop is not None else base.drop,
            reset=args.reset if args.reset is not None else base.reset,
            stall=args.stall if args.stall is not None else base.stall,
            duplicate=args.duplicate if args.duplicate is not None else base.duplicate,
            stall_seconds=args.client_timeout + 1,
        )
    try:
        device_faults = parse_faults(args.faults) if args.faults else ()
        config = SimulationConfig(
            url=args.url,
            email=args.email or settings.demo_admin_email,
            password=args.password or settings.demo_admin_password,
            shops=args.shops,
            machines=args.machines,
            transactions=args.transactions,
            seed=args.seed,
            batch_size=args.batch_size,
            rate=args.rate,
            faults=faults,
            kill_every=args.kill_every,
            client_timeout=args.client_timeout,
            converge_timeout=args.timeout,
            state_dir=args.state_dir or settings.var_dir / "sim",
            device_faults=device_faults,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The progress bar and the summary say what matters; retries are counted, not logged.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("cashcc.agent").setLevel(logging.WARNING)
    try:
        result = asyncio.run(run_simulation(config))
    except (httpx.TransportError, ApiError) as exc:
        print(f"error: {config.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 2
    print(format_summary(result))
    return 0 if result.ok else 1


def cmd_rebuild_summaries(args: argparse.Namespace, settings: Settings) -> int:
    """Recompute summaries from raw transactions; exit 0 when they match (or were applied),
    3 when differences were found and left in place."""
    from cli.rebuild import run_rebuild

    return asyncio.run(with_database(settings, lambda: run_rebuild(args)))


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """`cashcc orgs|shops|machines|keys`: a table (or JSON) from the database."""
    from cli.listing import run_listing

    return asyncio.run(with_database(settings, lambda: run_listing(args)))


class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: ...)` where there is a fixed default the help does not name."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


DEFAULTS_NOTE = "Defaults come from the settings (environment or .env), see README.md."


def _command(sub: Any, name: str, summary: str, handler: Callable[..., int]) -> Any:
    command = sub.add_parser(
        name, help=summary, description=f"{summary}. {DEFAULTS_NOTE}", formatter_class=HELP
    )
    command.set_defaults(handler=handler)
    return command


def _listing(sub: Any, name: str, what: str, *, shop: bool) -> None:
    command = _command(sub, name, f"list {what}", cmd_list)
    command.add_argument("--org", metavar="ID", help="only this organization (all when omitted)")
    if shop:
        command.add_argument("--shop", metavar="ID", help="only this shop (all when omitted)")
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The `cashcc` command line; `settings` fills in the defaults shown by `--help`."""
    url = settings.local_graphql_url if settings else "http://HOST:PORT/graphql"
    parser = argparse.ArgumentParser(
        prog="cashcc", description=f"Cash Command Center. {DEFAULTS_NOTE}", formatter_class=HELP
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", "run the GraphQL API (gunicorn with uvicorn workers)", cmd_serve)
    serve.add_argument("--host", help="address to listen on (default: HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS)")

    _command(
        sub, "migrate", "create collections and indexes, set the retention TTL (deploy step)",
        cmd_migrate,
    )  # fmt: skip

    org = _command(sub, "create-org", "create an organization and its first admin", cmd_create_org)
    org.add_argument("--name", required=True, help="organization name")
    org.add_argument("--admin-email", required=True, help="e-mail of the first ORG_ADMIN")
    org.add_argument("--admin-password", required=True, help="their password (10+ characters)")
    org.add_argument("--currency", default="EUR", help="default currency of new shops")
    org.add_argument("--timezone", default="Europe/Berlin", help="default IANA time zone")

    emb = _command(sub, "embedded-db", "manage the embedded development database", cmd_embedded_db)
    emb.add_argument("action", choices=["status", "start", "stop"], help="what to do")

    _listing(sub, "orgs", "organizations (ids for --org)", shop=False)
    _listing(sub, "shops", "shops", shop=False)
    _listing(sub, "machines", "machines", shop=True)
    _listing(sub, "keys", "API keys (prefix and status; secrets are never stored)", shop=True)

    sim = _command(
        sub, "simulate", "drive a simulated fleet of shops against the API", cmd_simulate
    )
    sim.add_argument("--url", default=url, help="GraphQL endpoint (HOST and PORT)")
    sim.add_argument("--email", help="admin login (default: DEMO_ADMIN_EMAIL)")
    sim.add_argument("--password", help="admin password (default: DEMO_ADMIN_PASSWORD)")
    sim.add_argument("--shops", type=int, default=5, help="shops SIM-01.. to use or create")
    sim.add_argument("--machines", type=int, default=2, help="new machines per shop")
    sim.add_argument("--transactions", type=int, default=200, help="transactions per machine")
    sim.add_argument("--seed", type=int, default=42, help="traffic seed (same seed, same sums)")
    sim.add_argument("--batch-size", type=int, default=100, help="transactions per request")
    sim.add_argument("--rate", type=float, default=0.0, help="tx/s per machine; 0 = max")
    sim.add_argument("--flaky", action="store_true", help="route agents via a flaky proxy")
    for fault in ("drop", "reset", "stall", "duplicate"):
        sim.add_argument(
            f"--{fault}", type=float, help=f"probability of a {fault} per request (0..1)"
        )
    sim.add_argument(
        "--faults",
        metavar="LIST",
        help="device faults to inject and check, 'all' or some of offline,jam,full (one "
        "machine each; the alerts check needs the server's WEBHOOK_ALLOW_PRIVATE=true)",
    )
    sim.add_argument("--kill-every", type=float, default=0.0, help="mean s between agent kills")
    sim.add_argument("--client-timeout", type=float, default=30.0, help="seconds per request")
    sim.add_argument("--timeout", type=float, default=600.0, help="convergence deadline (s)")
    sim.add_argument("--state-dir", type=Path, help="outboxes (default: VAR_DIR/sim)")
    sim.add_argument(
        "--cleanup",
        metavar="RUN",
        help="instead of simulating, delete run RUN's machines (with their transactions), "
        "keys, outboxes and the SIM-* shops left empty",
    )

    rebuild = _command(
        sub, "rebuild-summaries", "recompute analytics summaries from raw transactions",
        cmd_rebuild_summaries,
    )  # fmt: skip
    rebuild.add_argument("--org", required=True, help="organization id (see `cashcc orgs`)")
    rebuild.add_argument("--from", dest="start", required=True, help="ISO 8601 instant")
    rebuild.add_argument("--to", dest="end", required=True, help="ISO 8601 instant")
    rebuild.add_argument("--apply", action="store_true", help="replace differing summaries")
    add_audit_commands(sub, _command, url)
    return parser


def load_settings() -> Settings | None:
    """The settings, or None after printing one line per configuration problem."""
    try:
        return get_settings()
    except ValidationError as exc:
        for problem in configuration_problems(exc):
            print(f"configuration error: {problem}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 success, 1 the command's own failure, 2 bad arguments or configuration."""
    settings = load_settings()
    if settings is None:
        return 2
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.handler(args, settings)
    except PyMongoError as exc:
        where = "MONGODB_URI" if settings.mongodb_uri else "the embedded database"
        print(
            f"error: {where}: the database did not answer ({type(exc).__name__})", file=sys.stderr
        )
        return 2
    except SchemaBehind as exc:
        print(f"error: database: {exc}", file=sys.stderr)
        return 2
    except EmbeddedDatabaseError as exc:
        print(f"error: embedded database: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
