"""Running the `cashcc` audit commands as real processes, as an operator and an auditor do."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from resolvers.audit.keys import key_ring

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    code: int
    out: list[str]
    err: list[str]

    @property
    def said(self) -> str:
        return "\n".join([*self.out, *self.err])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_env(settings: Settings) -> dict[str, str]:
    """The operator's environment: the test database."""
    return {
        **os.environ,
        "APP_ENV": "test",
        "MONGODB_URI": settings.mongodb_uri or "",
        "MONGODB_DB": settings.mongodb_db,
    }


def offline_env() -> dict[str, str]:
    """The auditor's environment: a database address nothing listens on, so a command that
    tried to reach it would fail instead of answering."""
    return {
        **os.environ,
        "APP_ENV": "test",
        "MONGODB_URI": f"mongodb://127.0.0.1:{_closed_port()}/?serverSelectionTimeoutMS=3000",
    }


async def cashcc(*args: str | Path, env: dict[str, str]) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *map(str, args),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()  # a hung command must not outlive its test
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode().splitlines(), err.decode().splitlines())


async def audit_export(settings: Settings, *args: str | Path) -> Run:
    return await cashcc("audit-export", *args, env=database_env(settings))


async def verify_bundle(path: Path, *args: str) -> Run:
    return await cashcc("verify-bundle", path, *args, env=offline_env())


def public_key(settings: Settings) -> str:
    """The operator's log verifier key, as an auditor would obtain it outside the bundle."""
    (key,) = key_ring(settings).verifier_keys
    return key


def bundle_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def of_type(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("type") == kind]


def csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path
