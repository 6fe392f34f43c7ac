"""`ingest_transactions`: exactly-once, atomic batch ingest for one machine.

Data flow (see docs/architecture.md): validate the request shape -> check the machine is
covered by the key -> claim the idempotency key -> validate records -> in ONE multi-document
transaction: read the machine state, drop seqs already seen, insert the new transactions with
their chain links, compare-and-set the machine state (inventory, seen seqs, chain head) and
store the response on the idempotency record, and the Merkle log nodes the new transactions
complete (resolvers/audit/logs.py). Any failure before commit leaves nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from auth.principal import Principal
from config import Settings
from infra.metrics import INGEST_BATCHES, INGEST_TRANSACTIONS
from models.audit import LogKey
from models.audit_store import TreeMoved, append_tree_nodes
from models.batch_store import claim_batch, complete_batch, release_batch
from models.db import get_database
from models.ledger import BatchStatus
from models.ledger_store import (
    find_inventory_state,
    insert_transactions,
    save_inventory_state,
    stored_content_hashes,
)
from models.machine import Machine
from models.org_store import get_shop
from models.organization import utcnow
from models.scope import Scope
from models.summary_store import apply_to_summaries
from resolvers.errors import CommonErrorCode, ServiceError
from resolvers.fleet.machines import machine_for_key
from resolvers.health.seen import record_batch_seen
from resolvers.ledger.errors import LedgerErrorCode
from resolvers.ledger.ingest import seq_ranges
from resolvers.ledger.ingest.freshness import (
    dispensed_slots,
    gaps_open_since,
    last_negative,
    recent_lags,
)
from resolvers.ledger.ingest.ledger_update import apply_records, split_seen
from resolvers.ledger.ingest.records import (
    RecordInput,
    Rejection,
    RejectionCode,
    ValidationOutcome,
    request_fingerprint,
    validate_records,
)
from resolvers.ledger.ingest.result import IngestResult
from resolvers.live.publish import CommittedBatch, publish_ingest

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_COMMIT_ATTEMPTS = 50


class _ConcurrentWrite(Exception):
    """Another batch for the same machine committed first; re-read and try again."""


class _TooContended(Exception):
    """Every attempt lost to concurrent batches of the same machine; the client retries."""


class _ClaimLost(Exception):
    """Our idempotency claim was taken over after its lease ended."""


def _counted(
    ingest: Callable[..., Awaitable[IngestResult]],
) -> Callable[..., Awaitable[IngestResult]]:
    """Count every call in the ingest metrics: refused, replayed or applied."""

    @functools.wraps(ingest)
    async def counted(**kwargs: Any) -> IngestResult:
        try:
            result = await ingest(**kwargs)
        except ServiceError:
            INGEST_BATCHES.labels(result="refused").inc()
            raise
        record_ingest(result)
        return result

    return counted


@_counted
async def ingest_transactions(
    *,
    principal: Principal,
    machine_id: str,
    idempotency_key: str,
    records: list[RecordInput],
    settings: Settings,
) -> IngestResult:
    """Apply a batch of a machine's transactions exactly once.

    Retrying with the same key and payload returns the stored response; the same key with a
    different payload is refused (IDEMPOTENCY_KEY_REUSED); a retry while the first request
    still runs gets a retryable IN_PROGRESS error. Bad records are rejected one by one (in the
    result); the good records of the batch are accepted. Raises ServiceError for a request
    that cannot be applied at all.
    """
    if len(records) > settings.max_batch_size:
        raise ServiceError.of(
            LedgerErrorCode.BATCH_TOO_LARGE,
            f"a batch holds at most {settings.max_batch_size} transactions, got {len(records)}",
            field="input.transactions",
        )
    key = idempotency_key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ServiceError.of(
            CommonErrorCode.INVALID,
            f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            field="input.idempotencyKey",
        )
    machine = await machine_for_key(principal=principal, machine_id=machine_id)

    scope = principal.scope
    fingerprint = request_fingerprint(str(machine.id), records)
    owner = uuid.uuid4().hex
    now = utcnow()
    existing = await claim_batch(
        scope=scope,
        machine_id=machine.id,
        key=key,
        fingerprint=fingerprint,
        owner=owner,
        now=now,
        lease_until=now + timedelta(seconds=settings.idempotency_lease_seconds),
        expires_at=now + timedelta(days=settings.idempotency_ttl_days),
    )
    if existing is not None:
        return _replay(existing, fingerprint)

    outcome = validate_records(
        records,
        machine_currency=machine.currency,
        now=now,
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
    )
    try:
        # Read outside the transaction: it only keys the daily summaries.
        shop = await get_shop(scope=Scope.organization(machine.org_id), shop_id=machine.shop_id)
        if shop is None:
            raise LookupError(f"shop {machine.shop_id} of machine {machine.id} not found")
        result = await _commit_with_retries(
            _Batch(scope, machine, shop.timezone, key, owner, outcome, settings)
        )
    except _ClaimLost:
        raise _in_progress() from None
    except _TooContended:
        await release_batch(scope=scope, machine_id=machine.id, key=key, owner=owner)
        raise _in_progress() from None
    except BaseException:
        await asyncio.shield(
            release_batch(scope=scope, machine_id=machine.id, key=key, owner=owner)
        )
        raise
    # Only after the commit, and only from the request that committed (not from replays).
    await publish_ingest(result.committed)
    await record_batch_seen(machine=machine, received_at=now, settings=settings)
    return result


def _in_progress() -> ServiceError:
    return ServiceError.of(
        LedgerErrorCode.IN_PROGRESS,
        "a request with this idempotency key is still being processed; retry shortly",
        field="input.idempotencyKey",
        retryable=True,
    )


def _replay(existing: dict, fingerprint: str) -> IngestResult:
    if existing["fingerprint"] != fingerprint:
        raise ServiceError.of(
            LedgerErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different payload; nothing was applied",
            field="input.idempotencyKey",
        )
    if existing["status"] == BatchStatus.COMPLETED.value:
        return IngestResult.from_stored(existing["response"])
    raise _in_progress()


@dataclass(frozen=True)
class _Batch:
    """One claimed request, validated, ready to be applied in a transaction."""

    scope: Scope
    machine: Machine
    shop_timezone: str
    key: str
    owner: str
    outcome: ValidationOutcome
    settings: Settings


async def _commit_with_retries(batch: _Batch) -> IngestResult:
    database = get_database()
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        try:
            return await database.in_transaction(lambda session: _apply_batch(session, batch))
        except (_ConcurrentWrite, DuplicateKeyError, TreeMoved) as exc:
            if attempt == MAX_COMMIT_ATTEMPTS:
                raise _TooContended() from exc
            log.debug("ingest retry %s for machine %s: %s", attempt, batch.machine.id, exc)
            await asyncio.sleep(random.uniform(0, 0.005 * min(attempt, 10)))  # noqa: S311
        except PyMongoError as exc:
            if not exc.timeout:
                raise
            # held past MONGODB_TIMEOUT_SECONDS (a dead worker's transaction not yet ended):
            # nothing was applied, the client retries
            raise _TooContended() from exc
    raise AssertionError("unreachable")


async def _apply_batch(session: AsyncClientSession, batch: _Batch) -> IngestResult:
    scope, machine, outcome, settings = batch.scope, batch.machine, batch.outcome, batch.settings
    state = await find_inventory_state(scope=scope, machine_id=machine.id, session=session)
    if state is None:
        raise RuntimeError(f"machine {machine.id} has no inventory state")
    fresh, known, unsure = split_seen(state, outcome.valid)
    rejected = list(outcome.rejected)
    duplicates = outcome.duplicates_in_batch
    if known or unsure:
        stored = await stored_content_hashes(
            scope=scope,
            machine_id=machine.id,
            seqs=[r.seq for r in (*known, *unsure)],
            session=session,
        )
        for rec in (*known, *unsure):
            stored_hash = stored.get(rec.seq)
            if stored_hash is None and rec in unsure:
                fresh.append(rec)  # below the floor and not stored: never seen
            elif stored_hash is not None and stored_hash != rec.content_hash:
                rejected.append(
                    Rejection(
                        index=rec.index,
                        seq=rec.seq,
                        code=RejectionCode.SEQ_CONFLICT,
                        message=f"seq {rec.seq} is already stored with different content",
                    )
                )
            else:
                duplicates += 1
        fresh.sort(key=lambda r: r.index)
    received_at = utcnow()
    update = apply_records(
        state,
        fresh,
        machine={"org_id": machine.org_id, "shop_id": machine.shop_id, "machine_id": machine.id},
        batch_id=ObjectId(),
        received_at=received_at,
        max_seq_ranges=settings.max_seq_ranges,
    )
    rejected += update.rejected
    missing, truncated = seq_ranges.missing(
        update.state["seen_seqs"],
        first_seq=max(machine.first_seq, update.state["seq_floor"]),
        limit=settings.missing_seq_ranges_limit,
    )
    truncated = truncated or update.state["summarized_gaps"] > 0
    update.state["open_gaps"] = gaps_open_since(state.get("open_gaps", []), missing, received_at)
    update.state["recent_lags"] = recent_lags(
        state.get("recent_lags", []), update.documents, received_at
    )
    update.state["dispensed_slots"] = dispensed_slots(
        state.get("dispensed_slots", []), update.documents
    )
    update.state["last_negative"] = last_negative(
        state.get("last_negative"), update.documents, received_at
    )
    await insert_transactions(update.documents, session=session)
    await apply_to_summaries(
        update.documents, session=session, scope=scope, timezone=batch.shop_timezone
    )
    if update.documents and not await save_inventory_state(
        scope=scope, state=update.state, expected_version=state["version"], session=session
    ):
        raise _ConcurrentWrite("machine state changed concurrently")
    await append_tree_nodes(
        log=LogKey(machine.org_id, machine.id),
        shop_id=machine.shop_id,
        nodes=update.tree_nodes,
        session=session,
    )
    result = IngestResult(
        accepted=len(update.documents),
        duplicates=duplicates,
        rejected=sorted(rejected, key=lambda r: r.index),
        missing_seqs=missing,
        missing_seqs_truncated=truncated,
        chain_position=update.state["chain_position"],
        committed=CommittedBatch(machine=machine, documents=update.documents, state=update.state)
        if update.documents
        else None,
    )
    if not await complete_batch(
        scope=scope,
        machine_id=machine.id,
        key=batch.key,
        owner=batch.owner,
        response=result.to_stored(),
        session=session,
    ):
        raise _ClaimLost()
    return result


def record_ingest(result: IngestResult) -> None:
    """Count one ingestTransactions call that was answered with a result (a refused one counts
    as `refused` where it is refused); a replay counts as a batch only (its transactions were
    counted when they were applied)."""
    if result.replayed:
        INGEST_BATCHES.labels(result="replayed").inc()
        return
    INGEST_BATCHES.labels(result="applied").inc()
    INGEST_TRANSACTIONS.labels(result="accepted").inc(result.accepted)
    INGEST_TRANSACTIONS.labels(result="duplicate").inc(result.duplicates)
    INGEST_TRANSACTIONS.labels(result="rejected").inc(len(result.rejected))
