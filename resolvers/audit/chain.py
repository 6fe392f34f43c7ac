"""The per-machine audit chain: canonical serialization, hashing and verification.

Every accepted transaction carries `chain_position` (1, 2, 3, ... per machine), the hash of the
previous link (`prev_hash`, 64 zeros for the first) and its own SHA-256 `hash` over a canonical
JSON form of the record (sorted keys, no whitespace, UTF-8, datetimes as ISO-8601 UTC with
milliseconds). Changing any stored field breaks that record's hash; deleting or reordering
records breaks positions or links; truncating the newest records no longer matches the head
kept in the machine's inventory document.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from models.ledger import GENESIS_HASH
from resolvers.audit.canonical import chain_hash

CHAINED_FIELDS = (
    "org_id",
    "shop_id",
    "machine_id",
    "seq",
    "type",
    "occurred_at",
    "received_at",
    "currency",
    "lines",
    "amount",
    "reference",
    "operator_id",
    "flags",
    "chain_position",
    "prev_hash",
)


def link_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the chained fields of a stored transaction document."""
    return chain_hash(record, CHAINED_FIELDS)


@dataclass(frozen=True)
class ChainCheck:
    """Result of walking one hash chain (and checking its log against the signed
    checkpoints: `checkpoint_size` is the newest one checked). `broken_position` names the
    first bad link."""

    ok: bool
    checked: int
    head_position: int
    first_position: int | None = None
    last_position: int | None = None
    broken_position: int | None = None
    reason: str | None = None
    machine_id: ObjectId | None = None
    checkpoint_size: int | None = None
    checkpoints_checked: int = 0


async def walk_chain(
    records: AsyncIterable[Mapping[str, Any]],
    *,
    position_field: str,
    hashed_fields: tuple[str, ...],
    noun: str,
    head_position: int,
    head_hash: str,
    prefix_expired: Callable[[Mapping[str, Any]], bool] | None = None,
) -> ChainCheck:
    """The one walker of every hash chain (transactions per machine, the security log).

    Reads `records` in position order and reports the first position that is missing or out
    of order, whose link to the previous one does not match, or whose content does not match
    its hash, and a chain that ends before its recorded head (newest records deleted). Records
    newer than the head (committed after it was read) are not looked at. When records may
    expire (retention), `prefix_expired(first_record)` says whether a chain starting after
    position 1 is explained by expiry.
    """
    checked, first, expected, prev_hash = 0, None, None, None

    def failed(broken: int, last: int | None, reason: str) -> ChainCheck:
        return ChainCheck(False, checked, head_position, first, last, broken, reason)

    async for record in records:
        position = record[position_field]
        if position > head_position:
            break
        if first is None:
            first = expected = position
            prev_hash = GENESIS_HASH
            if position != 1:
                if prefix_expired is None or not prefix_expired(record):
                    return failed(position - 1, None, f"{noun}s before this position are missing")
                prev_hash = record["prev_hash"]
        if position != expected:
            return failed(expected, position, f"position {expected} is missing or out of order")
        if record["prev_hash"] != prev_hash:
            return failed(position, position, f"link to the previous {noun} does not match")
        if chain_hash(record, hashed_fields) != record["hash"]:
            return failed(position, position, f"{noun} content does not match its hash")
        checked += 1
        prev_hash, expected = record["hash"], position + 1
    last = None if expected is None else expected - 1
    if (last or 0) != head_position or (prev_hash or GENESIS_HASH) != head_hash:
        return failed(
            (last or 0) + 1,
            last,
            f"newest {noun}s are missing: the chain ends before the recorded head",
        )
    return ChainCheck(True, checked, head_position, first, last)


def at_retention_edge(received_at: datetime, *, retention_days: int, now: datetime) -> bool:
    """Whether records are gone because of the retention TTL: a chain that starts after
    position 1 is explained when its first record (received at `received_at`) is itself
    within a day of expiring."""
    return received_at <= now - timedelta(days=retention_days - 1)
