"""Validation and normalisation of the records of one ingest batch (pure functions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from models.currencies import get_currency, slot_key
from models.ledger import FLOW_SIGN, TransactionType
from resolvers.audit.canonical import canonical_json, iso_millis
from resolvers.cash import CashCount
from resolvers.timestamps import to_utc
from resolvers.validation import is_text

MAX_SEQ = 2**63 - 1
# No cash movement on a recycler moves this many pieces of one denomination (the largest
# machines hold a few thousand per cassette); a count beyond it is a bug or an attack.
MAX_PIECES_PER_LINE = 100_000
MAX_REFERENCE_LENGTH = 128
MAX_OPERATOR_LENGTH = 64


class RejectionCode(StrEnum):
    INVALID_SEQ = "INVALID_SEQ"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    WRONG_CURRENCY = "WRONG_CURRENCY"
    UNKNOWN_DENOMINATION = "UNKNOWN_DENOMINATION"
    AMBIGUOUS_DENOMINATION = "AMBIGUOUS_DENOMINATION"
    DUPLICATE_DENOMINATION = "DUPLICATE_DENOMINATION"
    NEGATIVE_COUNT = "NEGATIVE_COUNT"
    ZERO_COUNT = "ZERO_COUNT"
    COUNT_OUT_OF_RANGE = "COUNT_OUT_OF_RANGE"
    INVENTORY_OUT_OF_RANGE = "INVENTORY_OUT_OF_RANGE"
    EMPTY_LINES = "EMPTY_LINES"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    INVALID_TEXT = "INVALID_TEXT"
    DUPLICATE_SEQ_IN_BATCH = "DUPLICATE_SEQ_IN_BATCH"
    SEQ_CONFLICT = "SEQ_CONFLICT"


@dataclass(frozen=True)
class RecordInput:
    """One transaction as the local system reported it."""

    seq: int
    type: TransactionType
    occurred_at: datetime
    currency: str
    lines: list[CashCount]
    amount: int | None = None
    reference: str | None = None
    operator_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    index: int
    seq: int | None
    code: RejectionCode
    message: str


@dataclass
class ValidRecord:
    """A record that passed validation, normalised for storage.

    `deltas` is the signed change in pieces per slot this record makes to the machine.
    `content_hash` identifies the reported content, to tell a true duplicate from a
    conflicting record reusing a seq.
    """

    index: int
    seq: int
    type: TransactionType
    occurred_at: datetime
    currency: str
    lines: list[dict]
    amount: int
    reference: str | None
    operator_id: str | None
    deltas: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""


@dataclass
class ValidationOutcome:
    valid: list[ValidRecord]
    rejected: list[Rejection]
    duplicates_in_batch: int


def _truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def content_hash(record: ValidRecord) -> str:
    payload = {
        "seq": record.seq,
        "type": record.type.value,
        "occurred_at": iso_millis(record.occurred_at),
        "currency": record.currency,
        "lines": record.lines,
        "amount": record.amount,
        "reference": record.reference,
        "operator_id": record.operator_id,
    }
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def _validate_one(
    index: int, rec: RecordInput, *, machine_currency: str, latest_allowed: datetime
) -> ValidRecord | Rejection:
    def reject(code: RejectionCode, message: str) -> Rejection:
        return Rejection(index=index, seq=rec.seq, code=code, message=message)

    if not 1 <= rec.seq <= MAX_SEQ:
        return reject(RejectionCode.INVALID_SEQ, "seq must be a positive 64-bit integer")
    currency = get_currency(rec.currency)
    if currency is None:
        return reject(RejectionCode.UNKNOWN_CURRENCY, f"currency {rec.currency!r} is not supported")
    if rec.currency != machine_currency:
        return reject(
            RejectionCode.WRONG_CURRENCY,
            f"currency {rec.currency} does not match the machine's {machine_currency}",
        )
    utc = to_utc(rec.occurred_at)
    if utc is None:
        return reject(RejectionCode.INVALID_TIMESTAMP, "occurredAt must be between 1970 and 9998")
    occurred_at = _truncate_ms(utc)
    if occurred_at > latest_allowed:
        return reject(RejectionCode.FUTURE_TIMESTAMP, "occurredAt is too far in the future")
    for name, text in (("reference", rec.reference), ("operatorId", rec.operator_id)):
        if text is not None and not is_text(text):
            return reject(
                RejectionCode.INVALID_TEXT,
                f"{name} is not valid Unicode text (unpaired surrogate)",
            )
    if rec.reference is not None and len(rec.reference) > MAX_REFERENCE_LENGTH:
        return reject(
            RejectionCode.FIELD_TOO_LONG, f"reference exceeds {MAX_REFERENCE_LENGTH} characters"
        )
    if rec.operator_id is not None and len(rec.operator_id) > MAX_OPERATOR_LENGTH:
        return reject(
            RejectionCode.FIELD_TOO_LONG, f"operatorId exceeds {MAX_OPERATOR_LENGTH} characters"
        )
    if not rec.lines:
        return reject(RejectionCode.EMPTY_LINES, "lines must name at least one denomination")

    signed = rec.type is TransactionType.ADJUSTMENT
    sign = FLOW_SIGN[rec.type]
    lines: list[dict] = []
    deltas: dict[str, int] = {}
    total = 0
    for n, line in enumerate(rec.lines):
        where = f"lines[{n}]"
        kind, problem = currency.kind_for(line.denomination, line.kind)
        if kind is None:
            ambiguous = line.kind is None and len(currency.kinds_of(line.denomination)) > 1
            code = (
                RejectionCode.AMBIGUOUS_DENOMINATION
                if ambiguous
                else RejectionCode.UNKNOWN_DENOMINATION
            )
            return reject(code, f"{where}: {problem}")
        if line.count == 0:
            return reject(RejectionCode.ZERO_COUNT, f"{where}: count must not be zero")
        if line.count < 0 and not signed:
            return reject(
                RejectionCode.NEGATIVE_COUNT,
                f"{where}: count must be positive for {rec.type.value}",
            )
        if abs(line.count) > MAX_PIECES_PER_LINE:
            return reject(
                RejectionCode.COUNT_OUT_OF_RANGE,
                f"{where}: count exceeds {MAX_PIECES_PER_LINE} pieces",
            )
        slot = slot_key(kind, line.denomination)
        if slot in deltas:
            return reject(
                RejectionCode.DUPLICATE_DENOMINATION,
                f"{where}: denomination {line.denomination} appears twice",
            )
        deltas[slot] = sign * line.count
        total += line.denomination * line.count
        lines.append({"kind": kind.value, "denomination": line.denomination, "count": line.count})

    if rec.amount is not None and rec.amount != total:
        return reject(
            RejectionCode.AMOUNT_MISMATCH,
            f"amount {rec.amount} does not equal the sum of the lines {total}",
        )
    lines.sort(key=lambda item: (item["kind"], item["denomination"]))
    valid = ValidRecord(
        index=index,
        seq=rec.seq,
        type=rec.type,
        occurred_at=occurred_at,
        currency=rec.currency,
        lines=lines,
        amount=total,
        reference=rec.reference,
        operator_id=rec.operator_id,
        deltas=deltas,
    )
    valid.content_hash = content_hash(valid)
    return valid


def validate_records(
    records: list[RecordInput],
    *,
    machine_currency: str,
    now: datetime,
    max_future_skew: timedelta,
) -> ValidationOutcome:
    """Split a batch into valid records and per-record rejections (index, seq, code).

    A seq repeated inside the batch with identical content counts as a duplicate; with
    different content the later record is rejected.
    """
    latest_allowed = now + max_future_skew
    valid: list[ValidRecord] = []
    rejected: list[Rejection] = []
    by_seq: dict[int, ValidRecord] = {}
    duplicates = 0
    for index, rec in enumerate(records):
        outcome = _validate_one(
            index, rec, machine_currency=machine_currency, latest_allowed=latest_allowed
        )
        if isinstance(outcome, Rejection):
            rejected.append(outcome)
            continue
        first = by_seq.get(outcome.seq)
        if first is None:
            by_seq[outcome.seq] = outcome
            valid.append(outcome)
        elif first.content_hash == outcome.content_hash:
            duplicates += 1
        else:
            rejected.append(
                Rejection(
                    index=index,
                    seq=outcome.seq,
                    code=RejectionCode.DUPLICATE_SEQ_IN_BATCH,
                    message=f"seq {outcome.seq} appears earlier in this batch with other content",
                )
            )
    return ValidationOutcome(valid=valid, rejected=rejected, duplicates_in_batch=duplicates)


def request_fingerprint(machine_id: str, records: list[RecordInput]) -> str:
    """SHA-256 over the request as sent: same key + same fingerprint means a true retry."""
    payload = {
        "machine_id": machine_id,
        "records": [
            {
                "seq": r.seq,
                "type": r.type.value,
                # As sent (no UTC conversion): a record with an unusable time must not
                # fail the fingerprint of the whole batch; it is rejected on its own.
                "occurred_at": r.occurred_at.isoformat(),
                "currency": r.currency,
                "lines": [
                    [ln.kind.value if ln.kind else None, ln.denomination, ln.count]
                    for ln in r.lines
                ],
                "amount": r.amount,
                "reference": r.reference,
                "operator_id": r.operator_id,
            }
            for r in records
        ],
    }
    return hashlib.sha256(canonical_json(payload, surrogates=True)).hexdigest()
