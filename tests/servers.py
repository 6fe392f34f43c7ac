"""Real API processes for tests and benchmarks: uvicorn on a free port, ready when `/healthz`
answers; stopped cleanly, or crashed (SIGKILL) and restarted on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config import Settings

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str) -> None:
    """Poll `predicate` until it returns truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def wait_ready(
    process: subprocess.Popen,
    probe: Callable[[], bool],
    *,
    timeout: float,
    name: str,
    log: Callable[[], str] | None = None,
) -> None:
    """Poll `probe` until it returns true, as `wait_until`; fail at once, with `log()` when
    given, if `process` (called `name` in the messages) exits first instead of waiting out
    the timeout."""

    def ready() -> bool:
        if process.poll() is not None:
            detail = f":\n{log()}" if log else ""
            raise RuntimeError(f"{name} exited with {process.returncode}{detail}")
        return probe()

    wait_until(ready, timeout=timeout, what=f"{name} to be ready")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def eventually(predicate, *, timeout: float, what: str, interval: float = 0.05):
    """Await `predicate()` until it returns truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class ApiServer:
    """One uvicorn process serving `graph.app:create_app` against the test database."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    cwd: Path = REPO  # another checkout serves that checkout's code (bench/audit.py)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _log_file: Any = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._close_log()  # a restart after kill(): the crashed process's log goes
        handle, name = tempfile.mkstemp(prefix="cashcc-uvicorn-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "graph.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-proxy-headers",
            ],
            cwd=self.cwd,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        wait_ready(
            self.process,
            self._healthy,
            timeout=READY_TIMEOUT,
            name="uvicorn",
            log=self.log,
        )

    def _healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.http_url}/healthz", timeout=0.5).status_code == 200
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    @property
    def graphql_url(self) -> str:
        return f"{self.http_url}/graphql"

    def kill(self) -> None:
        """Crash the server (SIGKILL): in-flight requests die mid-way; `start()` restarts it
        on the same port."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        assert self.process is not None
        return process_cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def running(*servers: ApiServer) -> Iterator[None]:
    started: list[ApiServer] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        yield
    finally:
        for server in started:
            server.stop()


def server_env(
    *, mongodb_uri: str, mongodb_db: str, broadcast_url: str = "memory://", **extra: Any
) -> dict[str, str]:
    env = {
        "APP_ENV": "test",
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DB": mongodb_db,
        "BROADCAST_URL": broadcast_url,
        # Checkpoints at unpredictable times would disturb other tests; the scheduler's own
        # tests turn it on.
        "AUDIT_SCHEDULER": "false",
        # Off unless a test wants it: other tests drive twins with an injected clock.
        "HEALTH_EVALUATOR_INTERVAL_SECONDS": "0",
        "ALERT_EVALUATOR_INTERVAL_SECONDS": "0",
        # Off unless a test wants it: a worker would send every organization's due
        # deliveries, other tests' included.
        "WEBHOOK_DELIVERY_INTERVAL_SECONDS": "0",
    }
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def api_server(settings: Settings, **env: Any) -> Iterator[ApiServer]:
    """The API in a uvicorn process against the test database, with `env` as extra settings
    (`live_queue_size=8` sets LIVE_QUEUE_SIZE); stopped on exit."""
    server = ApiServer(
        server_env(mongodb_uri=settings.mongodb_uri or "", mongodb_db=settings.mongodb_db, **env)
    )
    with running(server):
        yield server


@contextlib.contextmanager
def uvicorn_server(settings: Settings, *, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the API in a uvicorn subprocess against the test database; yield its base URL."""
    with api_server(settings, **(extra_env or {})) as server:
        yield server.http_url
