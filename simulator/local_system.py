"""One machine's local system in a simulated run: journals its traffic, relays what its
device reports, and runs the agent (heartbeats included) until the run ends. It can be
killed (task cancelled, files closed with no cleanup) and restarted on the same outbox, and
its link to the cloud can be cut (the offline fault) while it keeps journaling."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from typing import Any

import httpx

from agent import AgentClient, RetryPolicy
from simulator.device import SimulatedDevice
from simulator.fleet import FleetMachine


class Link(httpx.AsyncBaseTransport):
    """The shop's internet connection: while `up` is clear every request fails to connect."""

    def __init__(self, up: asyncio.Event) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.up = up

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up.is_set():
            raise httpx.ConnectError("link down", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class LocalSystem:
    """`done` once every transaction is journaled and acknowledged and every device event
    delivered; the agent keeps heartbeating until `finish` is set (the end of the run)."""

    def __init__(self, machine: FleetMachine, transactions: list[dict[str, Any]],
                 device: SimulatedDevice, url: str, config: Any, seed: int) -> None:  # fmt: skip
        self.machine = machine
        self.transactions = transactions
        self.device = device
        self.url = url
        self.config = config
        self.rng = random.Random(seed)
        self.link_up = asyncio.Event()
        self.link_up.set()
        self.client: AgentClient | None = None
        self.task: asyncio.Task | None = None
        self.finish = asyncio.Event()
        self.done = False
        self.error: str | None = None
        self.journaled = 0
        self.acked = 0
        self.closing_reported = False
        self.seen_offline = False
        self.settled = asyncio.Event()  # set when this system finished or failed

    def start(self) -> None:
        self.client = AgentClient(
            self.url,
            self.machine.api_key,
            self.machine.machine_id,
            self.machine.outbox_path,
            batch_size=self.config.batch_size,
            timeout=self.config.client_timeout,
            policy=RetryPolicy(base=0.05, max_delay=2.0, rng=random.Random(self.rng.random())),
            transport=Link(self.link_up),
            heartbeat_interval=self.config.heartbeat_interval,
            # About as much work per call as a transaction batch (several events per sale).
            telemetry_batch_size=min(500, 5 * self.config.batch_size),
            agent_version="cashcc-simulator 1.0",
        )
        self.task = asyncio.create_task(self._life(self.client))

    def _report(self, client: AgentClient, start: int, stop: int) -> None:
        events = [e for pos in range(start, stop) for e in self.device.events_for(pos)]
        if events:
            now = datetime.now(UTC)
            client.telemetry.report_many([(kind, section, now) for kind, section in events])

    async def _life(self, client: AgentClient) -> None:
        stop = asyncio.Event()
        sender = asyncio.create_task(client.run(stop, idle_seconds=0.1))
        try:
            position = client.status().next_seq - 1  # what the outbox already holds
            step = 1 if self.config.rate else self.config.batch_size
            while position < len(self.transactions):
                chunk = self.transactions[position : position + step]
                client.journal_many(chunk)
                self._report(client, position, position + len(chunk))
                position += len(chunk)
                self.journaled = position
                if self.config.rate:
                    await asyncio.sleep(len(chunk) / self.config.rate)
                else:
                    await asyncio.sleep(0)
                if sender.done():
                    break
            if not self.closing_reported:
                closing = self.device.closing_events()
                if closing:
                    now = datetime.now(UTC)
                    client.telemetry.report_many([(k, s, now) for k, s in closing])
                self.closing_reported = True
            while not self._drained(client) and not sender.done():
                await asyncio.wait({sender}, timeout=0.05)
            if sender.done():
                await sender  # raises what stopped it
            self.done = True
            self.settled.set()
            await self.finish.wait()
            stop.set()
            await sender
        except Exception as exc:
            self.error = f"{self.machine.serial}: {type(exc).__name__}: {exc}"
        finally:
            if self.done or self.error:
                self.settled.set()
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender

    @staticmethod
    def _drained(client: AgentClient) -> bool:
        return client.status().pending == 0 and not client.telemetry.pending(1)

    def refresh(self) -> None:
        if self.client is not None and self.task is not None and not self.task.done():
            status = self.client.status()
            self.journaled = status.next_seq - 1
            self.acked = status.acked
        elif self.client is not None and self.done:
            self.acked = self.journaled

    async def kill(self) -> None:
        """Like SIGKILL: stop mid-whatever; SQLite keeps only committed state."""
        if self.task is None or self.client is None:
            return
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.client.aclose()
        self.client = None

    async def close(self, *, within: float = 30.0) -> None:
        """End of the run: a last heartbeat and flush, then close. A system that has not
        finished after `within` seconds (its link down, the server gone) is killed instead,
        so a run always ends; its outbox keeps what was not sent."""
        self.finish.set()
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self.task), within)
            if not self.task.done():
                await self.kill()
                return
        if self.client is not None:
            await self.client.aclose()
            self.client = None
