"""`AgentClient`: journal locally, push to the cloud's ingest API until acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from agent.outbox import Batch, CashLine, Outbox, OutboxStatus, QuarantinedRecord
from agent.retry import AgentError, Retry, RetryPolicy, payload_of
from agent.telemetry import MAX_MESSAGES_PER_CALL, DeadLetter, TelemetryQueue

log = logging.getLogger("cashcc.agent")

DEFAULT_KEEP_ACKED_SECONDS = 7 * 86_400
AGENT_VERSION = "cashcc-agent 1.0"

INGEST_MUTATION = """
mutation AgentIngest($input: IngestTransactionsInput!) {
  ingestTransactions(input: $input) {
    accepted duplicates replayed
    rejected { index seq code message }
    missingSeqs { from to }
    userErrors { field code message retryable }
  }
}
"""
TELEMETRY_MUTATION = """
mutation AgentTelemetry($input: ReportMachineTelemetryInput!) {
  reportMachineTelemetry(input: $input) {
    accepted duplicates stale
    rejected { index eventId code message }
    userErrors { field code message retryable }
  }
}
"""


@dataclass
class SendReport:
    """What one `flush()` achieved."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    replayed: int = 0
    retries: int = 0
    requeued: int = 0
    messages: int = 0  # telemetry the cloud now holds (accepted, duplicate or stale)
    stale: int = 0
    dead: int = 0  # telemetry rejected: kept as dead letters


class AgentClient:
    """The reference local-system client for one machine.

    `url` is the GraphQL endpoint (`https://.../graphql`), `api_key` a key covering the
    machine. `journal()` stores a transaction durably and returns its seq; `flush()` sends
    everything pending and returns when the cloud acknowledged it all; `run()` keeps flushing
    until stopped. Kill the process at any point: a new client on the same `outbox_path`
    resumes without loss or duplication.

    Telemetry goes through the same outbox file: `report_device_event()` for each device
    event, `heartbeat()` (which `run()` calls every `heartbeat_interval` seconds, also while
    the cloud is unreachable). Set `device_heartbeat_at` whenever the device answered.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        machine_id: str,
        outbox_path: str | Path,
        *,
        batch_size: int = 100,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        first_seq: int = 1,
        keep_acked_seconds: float = DEFAULT_KEEP_ACKED_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        heartbeat_interval: float = 60.0,
        telemetry_batch_size: int = MAX_MESSAGES_PER_CALL,
        agent_version: str = AGENT_VERSION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        if not 1 <= telemetry_batch_size <= MAX_MESSAGES_PER_CALL:
            raise ValueError(f"telemetry_batch_size must be between 1 and {MAX_MESSAGES_PER_CALL}")
        self.telemetry_batch_size = telemetry_batch_size
        self.url = url
        self.machine_id = machine_id
        self.batch_size = batch_size
        self.policy = policy or RetryPolicy()
        self.keep_acked_seconds = keep_acked_seconds
        self.outbox = Outbox(outbox_path, machine_id, first_seq=first_seq)
        self.telemetry = TelemetryQueue(self.outbox)
        self.heartbeat_interval = heartbeat_interval
        self.agent_version = agent_version
        self.device_heartbeat_at: datetime | None = None
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"X-API-Key": api_key}
        )

    async def aclose(self) -> None:
        """Close the HTTP client and the outbox."""
        await self._http.aclose()
        self.outbox.close()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def journal(
        self,
        *,
        type: str,
        occurred_at: datetime,
        currency: str,
        lines: Sequence[CashLine],
        amount: int | None = None,
        reference: str | None = None,
        operator_id: str | None = None,
    ) -> int:
        """Durably record one transaction before anything is sent; returns its seq.

        Only the shape is checked here (a malformed record would block the queue); the
        cloud validates the content and may reject a record, which then lands in quarantine.
        """
        return self.outbox.journal_many(
            [
                {
                    "type": type,
                    "occurred_at": occurred_at,
                    "currency": currency,
                    "lines": lines,
                    "amount": amount,
                    "reference": reference,
                    "operator_id": operator_id,
                }
            ]
        )[0]

    def journal_many(self, transactions: Sequence[dict[str, Any]]) -> list[int]:
        """`journal()` for several transactions in one durable commit."""
        return self.outbox.journal_many(transactions)

    def report_device_event(
        self, kind: str, section: Any, *, observed_at: datetime | None = None
    ) -> dict[str, Any]:
        """Durably queue one device event (`kind` as `TelemetryKind`, `section` in the shape
        of its GraphQL input, e.g. `{"code": "NOTE_JAM", "module": 1}` for ERROR) observed at
        `observed_at` (default now); returns the message with its eventId and seq."""
        return self.telemetry.report(kind, section, observed_at=observed_at or self._clock())

    def heartbeat(self) -> dict[str, Any]:
        """Queue a HEARTBEAT: agent version, last journaled seq, what is still unsent (count
        and age of the oldest record or message) and the device's last heartbeat."""
        now = self._clock()
        status, telemetry = self.outbox.status(), self.telemetry.status()
        oldest = [t for t in (self.outbox.oldest_pending_at(), telemetry.oldest_pending_at) if t]
        section = {
            "agentVersion": self.agent_version,
            "lastJournaledSeq": status.next_seq - 1 if status.next_seq > 1 else None,
            "outboxBacklog": status.pending + telemetry.pending,
            "outboxOldestAgeSeconds": max(0, int(now.timestamp() - min(oldest)))
            if oldest
            else None,
            "deviceHeartbeatAt": self.device_heartbeat_at.astimezone(UTC).isoformat()
            if self.device_heartbeat_at
            else None,
        }
        return self.telemetry.report("HEARTBEAT", section, observed_at=now)

    def dead_letters(self) -> list[DeadLetter]:
        """Telemetry the cloud rejected, with its code and reason (never resent)."""
        return self.telemetry.dead_letters()

    def status(self) -> OutboxStatus:
        return self.outbox.status()

    def quarantined(self) -> list[QuarantinedRecord]:
        return self.outbox.quarantined()

    async def flush(self, *, max_attempts: int | None = None) -> SendReport:
        """Send every pending record until the cloud acknowledged all of them.

        Retries transient failures with backoff (forever unless `max_attempts` per batch is
        given, then raises `TimeoutError`); raises `AgentError` on a permanent refusal.
        """
        report = SendReport()
        while (batch := self.outbox.open_batch(self.batch_size)) is not None:
            payload = await self._with_retries(
                f"batch {batch.key}",
                functools.partial(self._post, batch),
                report,
                max_attempts=max_attempts,
                before=functools.partial(self.outbox.note_attempt, batch.key),
            )
            self._settle(batch, payload, report)
        window = self.telemetry_batch_size
        while messages := self.telemetry.pending(window):
            window = await self._send_telemetry(messages, window, report, max_attempts)
        self.outbox.purge_acked(self.keep_acked_seconds)
        self.telemetry.purge_acked(self.keep_acked_seconds)
        return report

    async def run(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> SendReport:
        """Flush, then wait for new records or `stop`, queueing a heartbeat every
        `heartbeat_interval` meanwhile (an outage does not stop them: they are replayed);
        returns the totals when stopped (after a final flush was not interrupted)."""
        total = SendReport()
        beating = asyncio.create_task(self._beat(stop))
        try:
            while True:
                final = stop.is_set()
                if final:
                    # No heartbeat may slip in after the last flush: it would stay unsent.
                    beating.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await beating
                part = await self.flush()
                for name in vars(total):
                    setattr(total, name, getattr(total, name) + getattr(part, name))
                if final:
                    return total
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.heartbeat_interval)

    async def _send_telemetry(
        self,
        messages: list[dict[str, Any]],
        window: int,
        report: SendReport,
        max_attempts: int | None,
    ) -> int:
        """Send `messages` (the oldest pending, at most `window`) and settle them; returns
        the next call's window.

        A call that timed out is not resent as it was: a backlog replayed after an outage
        can be a call the server cannot answer in time, sent again forever. The next call
        takes half as many messages (they are idempotent by eventId), down to one, and each
        acknowledged call doubles the window back up to `telemetry_batch_size`."""
        body = {"machineId": self.machine_id, "messages": messages}
        try:
            payload = await self._with_retries(
                f"telemetry from seq {messages[0]['seq']}",
                functools.partial(self._call, TELEMETRY_MUTATION, body, "reportMachineTelemetry"),
                report,
                max_attempts=max_attempts,
                give_up=lambda retry: retry.timed_out and len(messages) > 1,
            )
        except Retry:
            narrower = max(1, min(window, len(messages)) // 2)
            log.info("telemetry call of %d timed out; sending %d", len(messages), narrower)
            return narrower
        self._settle_telemetry(messages, payload, report)
        return min(self.telemetry_batch_size, window * 2)

    async def _with_retries(
        self,
        what: str,
        send: Callable[[], Awaitable[dict[str, Any]]],
        report: SendReport,
        *,
        max_attempts: int | None,
        before: Callable[[], None] = lambda: None,
        give_up: Callable[[Retry], bool] = lambda retry: False,
    ) -> dict[str, Any]:
        """`send()`'s payload, retried with backoff on `Retry`; a `Retry` for which
        `give_up` holds is raised to the caller (counted as a retry)."""
        attempt = 0
        while True:
            attempt += 1
            before()
            try:
                return await send()
            except Retry as retry:
                if max_attempts is not None and attempt >= max_attempts:
                    raise TimeoutError(
                        f"{what} not acknowledged after {attempt} attempts: {retry}"
                    ) from retry
                report.retries += 1
                if give_up(retry):
                    raise
                delay = self.policy.delay(attempt, retry_after=retry.retry_after)
                log.info("retrying %s in %.2fs: %s", what, delay, retry)
                await self._sleep(delay)

    async def _post(self, batch: Batch) -> dict[str, Any]:
        return await self._call(
            INGEST_MUTATION,
            {"machineId": self.machine_id, "idempotencyKey": batch.key,
             "transactions": batch.records},
            "ingestTransactions",
        )  # fmt: skip

    async def _call(self, query: str, input: dict[str, Any], field: str) -> dict[str, Any]:
        """One mutation; `Retry` for what may succeed later, `AgentError` for what cannot."""
        body = {"query": query, "variables": {"input": input}}
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.TransportError as exc:
            timed_out = isinstance(exc, httpx.TimeoutException)
            raise Retry(f"{type(exc).__name__}: {exc}", timed_out=timed_out) from exc
        return payload_of(response, field, url=self.url)

    def _settle(self, batch: Batch, payload: dict[str, Any], report: SendReport) -> None:
        codes = {e["code"] for e in payload["userErrors"]}
        if codes & {"BATCH_TOO_LARGE", "IDEMPOTENCY_KEY_REUSED"}:
            # The batch itself is the problem: put its records back under a fresh key.
            log.warning("batch %s refused (%s); re-batching", batch.key, ", ".join(codes))
            self.outbox.dissolve_batch(batch.key)
            if "BATCH_TOO_LARGE" in codes:
                self.batch_size = max(1, self.batch_size // 2)
            return
        if payload["userErrors"]:
            first = payload["userErrors"][0]
            raise AgentError(f"{first['code']} on {first['field']}: {first['message']}")
        rejected = {
            batch.records[r["index"]]["seq"]: (r["code"], r["message"]) for r in payload["rejected"]
        }
        self.outbox.complete_batch(batch, rejected)
        report.batches += 1
        report.accepted += payload["accepted"]
        report.duplicates += payload["duplicates"]
        report.rejected += len(rejected)
        report.replayed += int(payload["replayed"])
        for seq, (code, message) in rejected.items():
            log.warning("seq %s rejected (%s): %s; quarantined", seq, code, message)
        missing = [(r["from"], r["to"]) for r in payload["missingSeqs"]]
        if missing:
            report.requeued += self.outbox.requeue_missing(missing)

    def _settle_telemetry(
        self, messages: list[dict[str, Any]], payload: dict[str, Any], report: SendReport
    ) -> None:
        errors = payload["userErrors"]
        if errors and errors[0]["code"] == "MACHINE_DECOMMISSIONED":
            # The cloud will never take this machine's telemetry again; its transactions
            # still go through, so the queue must not block them.
            reason = errors[0]["message"]
            rejected = {i: ("MACHINE_DECOMMISSIONED", reason) for i in range(len(messages))}
        elif errors:
            raise AgentError(f"{errors[0]['code']} on {errors[0]['field']}: {errors[0]['message']}")
        else:
            rejected = {r["index"]: (r["code"], r["message"]) for r in payload["rejected"]}
        self.telemetry.complete(messages, rejected)
        report.messages += len(messages) - len(rejected)
        report.stale += payload["stale"]
        report.dead += len(rejected)
        for index, (code, reason) in rejected.items():
            log.warning(
                "telemetry %s rejected (%s): %s; kept as a dead letter",
                messages[index]["eventId"], code, reason,
            )  # fmt: skip
