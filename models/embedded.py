"""The embedded database: a SecantusDB server in its own process, started on demand.

WiredTiger lets one process open a data directory, so the server runs apart from the API and
records its address in `<var>/embedded.json`; every `cashcc` command and every uvicorn worker
reads the address from there. Start-up is serialised with a file lock so two processes never
start two servers on one directory. SecantusDB is the optional `embedded` extra and is only
imported inside the server process.

Run as a module it *is* that server process:
    python -m models.embedded --storage-path var/db --addr-file var/embedded.json
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

START_TIMEOUT_SECONDS = 60.0
ADDR_FILE = "embedded.json"
# Servers this process started, kept so their Popen objects are reaped, not garbage-collected
# while the child still runs.
_children: dict[int, subprocess.Popen] = {}


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started or reached."""


@dataclass(frozen=True)
class EmbeddedHandle:
    uri: str
    pid: int
    started_here: bool


def _is_reachable(uri: str) -> bool:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _read_addr(addr_file: Path) -> dict | None:
    try:
        return json.loads(addr_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_server(var_dir: Path) -> EmbeddedHandle | None:
    """The embedded server recorded under `var_dir`, if it is alive and answers."""
    info = _read_addr(var_dir / ADDR_FILE)
    if info and _pid_alive(info["pid"]) and _is_reachable(info["uri"]):
        return EmbeddedHandle(uri=info["uri"], pid=info["pid"], started_here=False)
    return None


def start_server(
    storage_dir: Path, var_dir: Path, *, test_commands: bool = False
) -> EmbeddedHandle:
    """Return the running embedded server for `var_dir`, starting one if there is none.

    `started_here` tells the caller whether it owns the process (and should stop it).
    """
    # The server runs in the repository's folder: relative paths would land there.
    storage_dir, var_dir = storage_dir.resolve(), var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    storage_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / "embedded.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        handle = running_server(var_dir)
        if handle is not None:
            return handle
        addr_file = var_dir / ADDR_FILE
        previous = _read_addr(addr_file)
        if previous and _pid_alive(previous["pid"]):
            # A server that no longer answers is shutting down; WiredTiger's lock is ours
            # only once it has exited.
            _wait_for_exit(previous["pid"], timeout=START_TIMEOUT_SECONDS)
        addr_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "models.embedded",
            "--storage-path",
            str(storage_dir),
            "--addr-file",
            str(addr_file),
        ]
        if test_commands:
            cmd.append("--enable-test-commands")
        log_file = open(var_dir / "embedded.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        log_file.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"embedded database exited with code {proc.returncode}; "
                    f"see {var_dir / 'embedded.log'}"
                )
            info = _read_addr(addr_file)
            if info and _is_reachable(info["uri"]):
                _children[proc.pid] = proc
                return EmbeddedHandle(uri=info["uri"], pid=proc.pid, started_here=True)
            time.sleep(0.05)
        proc.terminate()
        raise EmbeddedDatabaseError("embedded database did not start in time")


def _wait_for_exit(pid: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child: reap the zombie
                return
        if time.monotonic() > deadline:
            raise EmbeddedDatabaseError(f"embedded database pid {pid} does not exit")
        time.sleep(0.05)


def stop_server(handle: EmbeddedHandle, *, timeout: float = 30.0) -> None:
    """Stop the server process (SIGTERM, then SIGKILL after `timeout` seconds)."""
    child = _children.pop(handle.pid, None)
    if child is not None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(handle.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(handle.pid):
            return
        with contextlib.suppress(ChildProcessError):
            pid, _ = os.waitpid(handle.pid, os.WNOHANG)
            if pid == handle.pid:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(handle.pid, signal.SIGKILL)


def _serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the embedded SecantusDB server.")
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--addr-file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--enable-test-commands", action="store_true")
    args = parser.parse_args(argv)
    try:
        from secantus import SecantusDBServer
    except ImportError:
        print(
            "SecantusDB is not installed: pip install '.[embedded]' or set MONGODB_URI",
            file=sys.stderr,
        )
        return 2

    server = SecantusDBServer(
        host=args.host,
        port=0,
        storage_path=args.storage_path,
        enable_test_commands=args.enable_test_commands,
        ttl_sweep_seconds=60.0,
    )
    addr_file = Path(args.addr_file)

    def _stop(signum: int, frame: object) -> None:
        server.stop()
        addr_file.unlink(missing_ok=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    tmp = addr_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"uri": server.uri, "pid": os.getpid()}))
    tmp.replace(addr_file)
    server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve())
