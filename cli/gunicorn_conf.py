"""gunicorn hooks for `cashcc serve` (loaded with `--config python:cli.gunicorn_conf`).

This module runs in the gunicorn master: it imports nothing of the application, so that
every worker started by `kill -HUP` imports the current code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

EMBEDDED_STOP_ENV = "CASHCC_STOP_EMBEDDED_DB"


def child_exit(server: Any, worker: Any) -> None:
    """Forget an exited worker: its ready marker, and its live gauges (prometheus-client
    multi-process mode)."""
    ready = os.environ.get("CASHCC_READY_DIR")
    if ready:
        (Path(ready) / str(worker.pid)).unlink(missing_ok=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Stop the embedded database when `cashcc serve` started it."""
    var_dir = os.environ.get(EMBEDDED_STOP_ENV)
    if var_dir:
        from models.embedded import running_server, stop_server

        handle = running_server(Path(var_dir))
        if handle is not None:
            stop_server(handle)
