"""`cashcc serve` as a real process (gunicorn master and uvicorn workers) for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import READY_TIMEOUT, REPO, free_port, server_env, wait_ready, wait_until


class Served:
    """`cashcc serve --workers N` in `folder` (its VAR_DIR and `.env` live there)."""

    def __init__(self, folder: Path, *, workers: int, env: dict[str, str]) -> None:
        self.folder = folder
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "serve.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int((self.folder / "var" / "cashcc.pid").read_text())

    def worker_pids(self) -> set[int]:
        """Workers that report serving (cli.worker writes var/workers/<pid>)."""
        folder = self.folder / "var" / "workers"
        return {int(p.name) for p in folder.iterdir()} if folder.is_dir() else set()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--workers", str(self.workers)],
                cwd=self.folder,
                env={**self.env, "PYTHONPATH": str(REPO)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(
            self.process,
            self._serving,
            timeout=READY_TIMEOUT * 2,
            name="cashcc serve",
            log=self.log,
        )

    def _serving(self) -> bool:
        if len(self.worker_pids()) < self.workers:
            return False
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    def reload(self) -> set[int]:
        """`kill -HUP`; returns once a full set of new workers serves and the old ones are
        gone. Returns the new workers' pids."""
        old = self.worker_pids()
        os.kill(self.pid, signal.SIGHUP)

        def replaced() -> bool:
            now = self.worker_pids()
            return len(now) == self.workers and not (now & old)

        wait_until(replaced, timeout=READY_TIMEOUT * 2, what="workers to be replaced")
        return self.worker_pids()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def served(
    folder: Path, *, mongodb_uri: str, mongodb_db: str, workers: int = 2, **extra: str
) -> Iterator[Served]:
    server = Served(
        folder,
        workers=workers,
        env=server_env(mongodb_uri=mongodb_uri, mongodb_db=mongodb_db, **extra),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
