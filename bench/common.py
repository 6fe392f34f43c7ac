"""Shared set-up of the benchmarks: a database, a real API server, a tenant, result files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config import Settings
from models.embedded import start_server, stop_server
from models.machine import MachineModel
from tests.factories import PASSWORD, Factory, Tenant
from tests.servers import ApiServer, server_env

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_PASSWORD = PASSWORD  # the factory's admins log in with it


@dataclass
class BenchEnv:
    uri: str
    db_name: str
    workdir: Path
    # The embedded server's process (None on MONGODB_URI).
    database_pid: int | None = None

    @property
    def settings(self) -> Settings:
        return Settings(app_env="test", mongodb_uri=self.uri, mongodb_db=self.db_name)

    def server(self, **env: str) -> ApiServer:
        return ApiServer(server_env(mongodb_uri=self.uri, mongodb_db=self.db_name, **env))


@contextmanager
def bench_env(name: str) -> Iterator[BenchEnv]:
    """A fresh database (on MONGODB_URI, else an embedded server in a temporary directory)
    that is dropped afterwards."""
    db_name = f"cashcc_bench_{name}_{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix=f"cashcc-bench-{name}-") as tmp:
        workdir = Path(tmp)
        external = os.environ.get("MONGODB_URI")
        handle = None if external else start_server(workdir / "db", workdir)
        uri = external or handle.uri  # type: ignore[union-attr]
        try:
            pid = handle.pid if handle else None
            yield BenchEnv(uri=uri, db_name=db_name, workdir=workdir, database_pid=pid)
        finally:
            from pymongo import MongoClient
            from pymongo.errors import PyMongoError

            client: MongoClient = MongoClient(
                uri, serverSelectionTimeoutMS=10_000, socketTimeoutMS=60_000
            )
            try:
                client.drop_database(db_name)
            except PyMongoError as exc:  # never hang the clean-up on a wedged database
                print(f"could not drop {db_name}: {exc}")
            finally:
                client.close()
            if handle is not None:
                stop_server(handle)


async def create_tenant(
    settings: Settings,
    *,
    shops: int,
    machines_per_shop: int,
    currency: str = "EUR",
    model: MachineModel = MachineModel.CI_10,
) -> Tenant:
    """An organization with shops, machines and a key per shop, built by the tests' factory
    (needs a connected database)."""
    factory = Factory(client=None, settings=settings)  # type: ignore[arg-type]
    return await factory.tenant(
        shops=shops, machines_per_shop=machines_per_shop, currency=currency, model=model
    )


def machine_info() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=RESULTS.parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": "MONGODB_URI" if os.environ.get("MONGODB_URI") else "embedded SecantusDB",
    }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (q in 0..100) with linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"meta": machine_info(), **data}, indent=2) + "\n")
    return path


def pyplot() -> Any | None:
    """matplotlib.pyplot on the headless Agg backend, or None after a note saying how to get it.

    The JSON result is the benchmark's output; the chart only pictures it, so a tree without
    the `bench` extra (``make bench`` installs it) still finishes the run with status 0.
    """
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is missing (pip install -e '.[bench]', or make bench)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
