"""`AgentClient`: journal locally, push to the cloud's ingest API until acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from agent.outbox import Batch, CashLine, Outbox, OutboxStatus, QuarantinedRecord
from agent.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("cashcc.agent")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULT_KEEP_ACKED_SECONDS = 7 * 86_400

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


class AgentError(RuntimeError):
    """The cloud refused the agent in a way retrying cannot fix (bad key, unknown machine,
    malformed request). Records stay in the outbox; a human must act."""


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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


class AgentClient:
    """The reference local-system client for one machine.

    `url` is the GraphQL endpoint (`https://.../graphql`), `api_key` a key covering the
    machine. `journal()` stores a transaction durably and returns its seq; `flush()` sends
    everything pending and returns when the cloud acknowledged it all; `run()` keeps flushing
    until stopped. Kill the process at any point: a new client on the same `outbox_path`
    resumes without loss or duplication.
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
    ) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        self.url = url
        self.machine_id = machine_id
        self.batch_size = batch_size
        self.policy = policy or RetryPolicy()
        self.keep_acked_seconds = keep_acked_seconds
        self.outbox = Outbox(outbox_path, machine_id, first_seq=first_seq)
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
            await self._deliver(batch, report, max_attempts=max_attempts)
        self.outbox.purge_acked(self.keep_acked_seconds)
        return report

    async def run(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> SendReport:
        """Flush, then wait for new records or `stop`; returns the totals when stopped
        (after a final flush attempt was not interrupted by a failure)."""
        total = SendReport()
        while True:
            part = await self.flush()
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            if stop.is_set():
                return total
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle_seconds)

    async def _deliver(self, batch: Batch, report: SendReport, *, max_attempts: int | None) -> None:
        attempt = 0
        while True:
            attempt += 1
            self.outbox.note_attempt(batch.key)
            try:
                payload = await self._post(batch)
                break
            except _Retry as retry:
                if max_attempts is not None and attempt >= max_attempts:
                    raise TimeoutError(
                        f"batch {batch.key} not acknowledged after {attempt} attempts: {retry}"
                    ) from retry
                report.retries += 1
                delay = self.policy.delay(attempt, retry_after=retry.retry_after)
                log.info("retrying batch %s in %.2fs: %s", batch.key, delay, retry)
                await self._sleep(delay)
        self._settle(batch, payload, report)

    async def _post(self, batch: Batch) -> dict[str, Any]:
        body = {
            "query": INGEST_MUTATION,
            "variables": {
                "input": {
                    "machineId": self.machine_id,
                    "idempotencyKey": batch.key,
                    "transactions": batch.records,
                }
            },
        }
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {response.status_code}", retry_after)
        try:
            document = response.json()
        except ValueError as exc:
            if response.status_code == 200:
                # A captive portal or a confused proxy on the shop's link: try again later.
                raise _Retry("HTTP 200 with a non-JSON body") from exc
            raise AgentError(f"HTTP {response.status_code} from {self.url}: not the API") from exc
        errors = document.get("errors") if isinstance(document, dict) else None
        if errors:
            first = errors[0]
            ext = first.get("extensions") or {}
            if ext.get("retryable") or ext.get("code") == "INTERNAL_SERVER_ERROR":
                raise _Retry(f"{ext.get('code')}: {first.get('message')}", ext.get("retryAfter"))
            raise AgentError(f"{ext.get('code')}: {first.get('message')}")
        if response.status_code != 200 or not document.get("data"):
            raise AgentError(f"unexpected HTTP {response.status_code} from {self.url}")
        payload: dict[str, Any] = document["data"]["ingestTransactions"]
        for error in payload["userErrors"]:
            if error["retryable"]:
                raise _Retry(f"{error['code']}: {error['message']}", retry_after)
        return payload

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
