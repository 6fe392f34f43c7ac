"""`cashcc serve`: the API under gunicorn, with uvicorn workers (`cli.worker`).

gunicorn is the process manager: the master owns the listening socket (connections queue in
the kernel, never refused, while workers change), `kill -HUP` starts workers that import the
code and read `.env` anew and retires the old ones (one for one once the new ones serve,
`cli.gunicorn_app`), `kill -TERM` drains and stops, and a crashed worker is replaced. Why
gunicorn and not uvicorn's own supervisor: docs/deploy.md, section 2.

`cashcc serve` prepares the environment and then *becomes* the gunicorn master
(`os.execv`), so the pid in `var/cashcc.pid` is the one to signal and the
master holds none of the application's modules: every new worker imports them fresh.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
from pathlib import Path

from config import Settings
from models.embedded import start_server
from resolvers.fleet.organizations import ensure_demo_organization
from resolvers.system import close_database, migrate, open_database

EMBEDDED_STOP_ENV = "CASHCC_STOP_EMBEDDED_DB"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
READY_DIR_ENV = "CASHCC_READY_DIR"


def _fresh_dir(path: Path) -> Path:
    """`path`, emptied: files a previous run left would be taken for this run's."""
    path = path.resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


async def _ensure_demo(settings: Settings) -> tuple[str, str] | None:
    await open_database(settings)
    try:
        return await ensure_demo_organization(settings)
    finally:
        await close_database()


def gunicorn_argv(settings: Settings, *, host: str, port: int, workers: int) -> list[str]:
    """The gunicorn command line `cashcc serve` runs (hooks in `cli.gunicorn_conf`)."""
    return [
        sys.executable,
        "-m",
        "cli.gunicorn_app",
        "--config",
        "python:cli.gunicorn_conf",
        "--bind",
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "cli.worker.ApiWorker",
        "--pid",
        str(settings.pid_file.resolve()),
        "--graceful-timeout",
        f"{settings.graceful_timeout_seconds:g}",
        "--no-control-socket",
        "--log-level",
        settings.log_level.lower(),
        "graph.app:create_app()",
    ]


def _port_problem(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"{host}:{port} cannot be used ({exc.strerror})"
    return None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare the database, the metrics directory and the pid file's folder, then replace
    this process with the gunicorn master (it does not return unless that fails)."""
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    problem = _port_problem(host, port)
    if problem:
        print(f"error: HOST/PORT: {problem}", file=sys.stderr)
        return 2
    if not settings.mongodb_uri:
        handle = start_server(settings.embedded_db_dir, settings.var_dir)
        # Workers are separate processes: they read the address from the environment.
        os.environ["MONGODB_URI"] = handle.uri
        if handle.started_here:
            os.environ[EMBEDDED_STOP_ENV] = str(settings.var_dir.resolve())
        settings = settings.model_copy(update={"mongodb_uri": handle.uri})
        print(f"embedded database at {handle.uri} (data in {settings.embedded_db_dir})")
        # No deploy step on the embedded default: `cashcc serve` is the deploy.
        for change in asyncio.run(migrate(settings)):
            print(f"migrate: {change}")
    demo = asyncio.run(_ensure_demo(settings))
    if demo:
        print(f"demo organization created; log in with {demo[0]} / {demo[1]}")
    # Each worker writes its metrics here (prometheus-client multi-process mode), and says
    # here when it serves (rolling reloads, cli.gunicorn_app).
    os.environ[METRICS_DIR_ENV] = str(_fresh_dir(settings.var_dir / "metrics"))
    os.environ[READY_DIR_ENV] = str(_fresh_dir(settings.var_dir / "workers"))
    settings.pid_file.parent.mkdir(parents=True, exist_ok=True)
    mode = "production" if settings.is_production else "development (GraphiQL on)"
    print(
        f"serving http://{host}:{port}/graphql in {mode} mode with {workers} worker(s); "
        f"pid file {settings.pid_file} (kill -HUP: reload workers, kill -TERM: stop)",
        flush=True,
    )
    argv = gunicorn_argv(settings, host=host, port=port, workers=workers)
    os.execv(argv[0], argv)  # noqa: S606
    return 1  # pragma: no cover (execv does not return)
