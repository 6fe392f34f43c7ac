"""What the agent tests share: the cloud as an in-process transport, a crash no retry loop
catches, and a real `python -m agent flush` process SIGKILLed at random moments while it sends."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from config import Settings
from models.db import Database
from tests.factories import Tenant
from tests.servers import REPO

URL = "http://cloud/graphql"


class SimulatedCrash(BaseException):
    """Stands for the process dying; BaseException so no retry loop catches it."""


class CrashAfterSend(httpx.AsyncBaseTransport):
    """Delivers the first `deliver` requests to the cloud, then dies before the answer
    reaches the client on the next one (the cloud did apply it). `keys` holds each request's
    idempotency key (None for a telemetry call, which has none)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, deliver: int = 0) -> None:
        self.inner = inner
        self.deliver = deliver
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(json.loads(request.content)["variables"]["input"].get("idempotencyKey"))
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if len(self.keys) > self.deliver:
            raise SimulatedCrash
        return response


@pytest.fixture(scope="module", name="transport")
async def cloud_transport(settings: Settings, database: Database) -> httpx.ASGITransport:
    """Fixture `transport`, one per agent module that imports it: the app in-process."""
    from graph.app import create_app

    return httpx.ASGITransport(app=create_app(settings, manage_database=False))


class AgentProcess:
    """`python -m agent flush` of the tenant's machine from the outbox at `path`, sending to
    `api_url` with the tenant's key (`options`: more command-line flags)."""

    def __init__(self, api_url: str, tenant: Tenant, path: Path, *options: str) -> None:
        self.command = [sys.executable, "-m", "agent", "flush", "--url", api_url]
        self.command += ["--machine-id", tenant.machine_id, "--outbox", str(path), *options]
        self.env = {**os.environ, "CASHCC_API_KEY": tenant.api_key}

    async def kill_while_sending(
        self, progress: Callable[[], Awaitable[int]], *, seed: int, max_pause: float
    ) -> int:
        """Three runs, each SIGKILLed at a random moment (up to `max_pause` s) after the cloud
        showed `progress()` move; returns how many kills hit a process still running."""
        rng = random.Random(seed)
        kills = 0
        for _ in range(3):
            before = await progress()
            proc = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while await progress() == before and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0, max_pause))  # a random moment of the send loop
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        return kills

    def run_to_completion(self) -> None:
        """One run that is left to finish; it must exit cleanly."""
        finished = subprocess.run(
            self.command, env=self.env, cwd=REPO, capture_output=True, timeout=120
        )
        assert finished.returncode == 0, finished.stderr.decode()[-2000:]
