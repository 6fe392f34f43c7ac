"""The sessions a process runs transactions in, recorded so that its successors can end them.

A worker killed mid-transaction leaves the transaction open on the server, holding its
documents (competing transactions fail with write conflicts, other writes wait) until
MongoDB's `transactionLifetimeLimitSeconds` (60 s) aborts it. A process that runs
transactions therefore keeps one document in `transaction_sessions`: its session ids and a
heartbeat (server time, `$$NOW`, every `HEARTBEAT_SECONDS`). While active it also looks for
documents whose heartbeat is older than `STALE_SECONDS` (against the server's
`hello.localTime`, so hosts' clocks do not matter), takes each one with a conditional delete
(so one process handles it) and ends those sessions with `killSessions`, which aborts their
transactions at once. A process that was only slow, not dead, loses its open transactions,
which abort and are retried like any write conflict; it records itself again on its next
heartbeat. `killSessions` ends only sessions of the same database user unless the caller may
`killAnySession`: run every worker with one user.

A process found dead on this host is ended at once, without waiting for `STALE_SECONDS`:
every record names its host (host name, boot id and pid namespace: the processes this one
can see in `/proc`), its pid and the pid's start time, and a record of this host whose pid
no longer runs, or runs a later process, is a crashed worker (gunicorn or systemd restarts it
here, and the successor ends it with its first transaction or claim: the first reap, and
every claim's liveness check, look). Not at start-up: a short-lived process (a CLI command)
would be stopped while that reap waited in the driver, and pymongo 4.20.1 can lose a
cancellation there (models/background.py; it hung `cashcc audit-export` for 120 s). A
whole host that went away is still noticed by its missing heartbeat.

Only active processes beat. A process is active while a transaction or an idempotency claim
of it runs and for `STALE_SECONDS` after; then it removes its record and stops writing until
it is active again (its first transaction records it before it starts). An idle fleet of
workers thus costs the database nothing, and an idle process holds nothing anyone waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pymongo
from bson import Binary
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from models.background import run_rounds

COLLECTION = "transaction_sessions"
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 6.0  # three missed beats

log = logging.getLogger(__name__)


def this_host() -> str | None:
    """The processes this one can see: host name, boot id and pid namespace (two containers
    with one host name see different ones). None without Linux's `/proc`."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid_namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{socket.gethostname()}/{boot}/{pid_namespace}"


def started_at(pid: int) -> int | None:
    """When process `pid` of this host started (clock ticks since boot: with the pid, a
    process's identity, as pids are reused); None when no such process runs (a zombie, dead
    but not yet waited for by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "pid (name)", whose name may hold spaces: the state is field 3, the start
    # time field 22.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def as_binary(lsid: Any) -> Binary:
    """A session id as read back (a UUID or Binary subtype 4), ready for `killSessions`."""
    return Binary.from_uuid(lsid) if isinstance(lsid, uuid.UUID) else lsid


class InflightSessions:
    """This process's record in `transaction_sessions`, and the reaper of dead ones.

    `heartbeat_seconds`, `idle_after` and `clock` (monotonic seconds) are for tests."""

    def __init__(
        self,
        db: AsyncDatabase,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        idle_after: float = STALE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.host = this_host()
        self.heartbeat_seconds = heartbeat_seconds
        self.idle_after = idle_after
        self._clock = clock
        self._lsids: dict[bytes, Binary] = {}
        self._task: asyncio.Task | None = None
        self._running = 0  # transactions and claims of this process now running
        self._last_active = -float("inf")
        self._recorded = False  # whether our record is (believed) in the collection
        self._generation = 0  # bumped by every beat, so a late removal cannot undo one
        self._woken = asyncio.Event()

    @property
    def _collection(self) -> Any:
        return self.db[COLLECTION]

    @property
    def active(self) -> bool:
        """Whether something of this process runs, or ran less than `idle_after` ago."""
        return self._running > 0 or self._clock() - self._last_active < self.idle_after

    async def mark_active(self) -> None:
        """Note activity now; records this process first when it was idle. Never raises: a
        failed record is retried by the background loop, which this wakes."""
        self._last_active = self._clock()
        if not self._recorded:
            self._woken.set()
            try:
                await self.beat()
            except PyMongoError:
                log.warning("could not record this process; the next beat retries", exc_info=True)

    @contextlib.asynccontextmanager
    async def running(self, session: AsyncClientSession | None = None) -> AsyncIterator[None]:
        """Keep this process recorded (and `session`'s id with it) while the block runs.

        pymongo reuses a few pooled sessions, so this writes only when the process was idle
        or for a session id not seen before."""
        self._running += 1
        try:
            if session is not None:
                lsid = session.session_id["id"]
                if bytes(lsid) not in self._lsids:
                    self._lsids[bytes(lsid)] = lsid
                    self._recorded = False  # the record must list it before it is used
            await self.mark_active()
            yield
        finally:
            self._running -= 1
            self._last_active = self._clock()

    async def beat(self) -> None:
        """Record this process as alive, with every session id it has used."""
        self._generation += 1
        await self._collection.update_one(
            {"_id": self.process},
            [
                {
                    "$set": {
                        "heartbeat_at": "$$NOW",
                        "generation": self._generation,
                        "host": self.host,
                        "pid": os.getpid(),
                        "started": started_at(os.getpid()),
                        "lsids": list(self._lsids.values()),
                    }
                }
            ],
            upsert=True,
        )
        self._recorded = True

    async def forget(self) -> None:
        """Remove this process's record unless a beat came after this call began."""
        self._recorded = False
        await self._collection.delete_one({"_id": self.process, "generation": self._generation})

    async def is_alive(self, process: str) -> bool:
        """Whether `process` is recorded and not found dead on this host (a dead one's
        sessions are ended first: its claims may then be taken over)."""
        doc = await self._collection.find_one({"_id": process})
        if doc is not None and self.gone_here(doc):
            await self._end(doc)
            return False
        return doc is not None

    def gone_here(self, doc: dict[str, Any]) -> bool:
        """Whether the process of record `doc` ran on this host and no longer runs."""
        return (
            self.host is not None
            and doc.get("host") == self.host
            and doc["_id"] != self.process
            and isinstance(doc.get("pid"), int)
            and started_at(doc["pid"]) != doc.get("started")
        )

    async def reap(self) -> list[str]:
        """End the sessions of every process whose heartbeat stopped `STALE_SECONDS` ago (by
        the server's clock) or that is gone from this host; returns those processes."""
        server_now = (await self.db.client.admin.command("hello"))["localTime"]
        if server_now.tzinfo is None:
            server_now = server_now.replace(tzinfo=UTC)
        cutoff = server_now - timedelta(seconds=STALE_SECONDS)
        stale = {"heartbeat_at": {"$lt": cutoff}}
        here = {"host": self.host} if self.host is not None else None
        reaped = []
        async for doc in self._collection.find({"$or": [stale, here]} if here else stale):
            dead = doc["heartbeat_at"] < cutoff or self.gone_here(doc)
            if dead and await self._end(doc):
                reaped.append(doc["_id"])
        return reaped

    async def _end(self, doc: dict[str, Any]) -> bool:
        """End the sessions of the dead process of record `doc` and remove the record; False
        when another process removed it first (or it beat again since `doc` was read)."""
        lsids = [as_binary(lsid) for lsid in doc.get("lsids") or ()]
        if lsids:  # idempotent: two processes ending the same sessions is harmless
            await self.db.client.admin.command("killSessions", [{"id": i} for i in lsids])
        done = await self._collection.delete_one(
            {"_id": doc["_id"], "heartbeat_at": doc["heartbeat_at"]}
        )
        if done.deleted_count:
            log.warning("ended the sessions of %s (no heartbeat, or gone)", doc["_id"])
        return bool(done.deleted_count)

    def start(self) -> None:
        """Heartbeat and reap in the background while active, until `stop`."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="inflight")

    async def tick(self) -> bool:
        """One step of the background loop: beat and reap while active, remove the record
        once idle. False when there is nothing to do until this process is active again."""
        if self.active:
            await self.beat()
            # Bounded: a reap stuck on the server must not stop this process's own beats
            # (others would take it for dead and end its sessions).
            with pymongo.timeout(self.heartbeat_seconds * 2):
                await self.reap()
            return True
        if self._recorded:
            await self.forget()
        return False

    async def _run(self) -> None:
        await run_rounds(
            self.tick, self._pause, log=log, failure="transaction session heartbeat failed"
        )

    async def _pause(self, busy: bool | None) -> None:
        """After a tick: the next beat, or (idle) until this process is active again. A failed
        tick (None: the database is away, or one record is odd) beats again as usual."""
        if busy is not False:
            await asyncio.sleep(self.heartbeat_seconds)
            return
        self._woken.clear()
        if not self.active:  # not woken between tick and clear
            await self._woken.wait()

    async def stop(self) -> None:
        """Stop the heartbeat and remove this process's record (its sessions end with it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(PyMongoError):
            await self._collection.delete_one({"_id": self.process})
