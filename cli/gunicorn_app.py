"""`python -m cli.gunicorn_app`: gunicorn with one change, rolling reloads.

Stock gunicorn answers `kill -HUP` by starting a full set of new workers and stopping every
old one at once; for the two to four seconds a new worker needs to import the application and
connect, no worker accepts connections (they wait in the listen queue) and reconnecting
WebSocket clients find nobody. `RollingArbiter` stops an old worker only once a new worker is
serving, one for one, so some worker always accepts. A worker says it is serving by creating
`CASHCC_READY_DIR/<pid>` (see `cli.worker`). Without that variable it behaves like gunicorn.

This module runs in the master: it imports nothing of the application (every new worker
imports the current code).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.arbiter import Arbiter

READY_DIR_ENV = "CASHCC_READY_DIR"


def ready_dir() -> Path | None:
    value = os.environ.get(READY_DIR_ENV)
    return Path(value) if value else None


class RollingArbiter(Arbiter):
    """gunicorn's master, replacing workers one by one after a reload (module docstring)."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__(app)
        self._stopping: set[int] = set()

    def _is_serving(self, pid: int) -> bool:
        folder = ready_dir()
        return folder is None or (folder / str(pid)).exists()

    def manage_workers(self) -> None:
        """Keep `num_workers` serving workers: spawn missing ones, retire replaced ones."""
        live = len(self.WORKERS) - len(self._stopping & set(self.WORKERS))
        if live < self.num_workers:
            self.spawn_workers()
        self._retire_replaced()

    def reap_workers(self) -> None:
        # gunicorn's reload() waits for the old workers to exit, reaping every 0.1 s and
        # calling nothing else: retiring them from here keeps the roll going meanwhile.
        super().reap_workers()
        self._retire_replaced()

    def _retire_replaced(self) -> None:
        """Stop the oldest extra workers, but only as many as newer workers already serve."""
        self._stopping &= set(self.WORKERS)
        live = sorted(
            ((pid, w) for pid, w in self.WORKERS.items() if pid not in self._stopping),
            key=lambda item: item[1].age,
        )
        extra = len(live) - self.num_workers
        if extra <= 0:
            return
        waiting = sum(1 for pid, _ in live[extra:] if not self._is_serving(pid))
        for pid, _ in live[: max(0, extra - waiting)]:
            self._stopping.add(pid)
            self.kill_worker(pid, signal.SIGTERM)

    def spawn_workers(self) -> None:
        live = len(self.WORKERS) - len(self._stopping & set(self.WORKERS))
        for _ in range(self.num_workers - live):
            self.spawn_worker()


class RollingApplication(WSGIApplication):
    """gunicorn's command line (same options), run by `RollingArbiter`. Daemon mode and
    `--print-config`/`--check-config` are not used by `cashcc serve` and not supported."""

    def run(self) -> None:
        try:
            RollingArbiter(self).run()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)


def main() -> None:
    RollingApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="cashcc serve").run()


if __name__ == "__main__":
    main()
