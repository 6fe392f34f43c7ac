"""The per-machine audit chain: canonical serialization, hashing and verification.

Every accepted transaction carries `chain_position` (1, 2, 3, ... per machine), the hash of the
previous link (`prev_hash`, 64 zeros for the first) and its own SHA-256 `hash` over a canonical
JSON form of the record (sorted keys, no whitespace, UTF-8, datetimes as ISO-8601 UTC with
milliseconds). Changing any stored field breaks that record's hash; deleting or reordering
records breaks positions or links; truncating the newest records no longer matches the head
kept in the machine's inventory document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from models.ledger import GENESIS_HASH
from models.ledger_store import find_inventory_state, iter_chain
from models.machine_store import get_machine
from models.scope import Scope
from resolvers.errors import not_found

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


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def iso_millis(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def canonical_json(data: dict[str, Any], *, surrogates: bool = False) -> bytes:
    """Sorted keys, no whitespace, UTF-8. `surrogates`: encode unpaired surrogates instead of
    failing (for fingerprints of requests as sent; stored records never hold them)."""
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )
    return text.encode("utf-8", "surrogatepass" if surrogates else "strict")


def chain_hash(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    """SHA-256 (hex) of the canonical JSON of `fields` of `record` (missing ones as null).

    The one hasher of every hash chain (transactions, security log).
    """
    return hashlib.sha256(canonical_json({f: record.get(f) for f in fields})).hexdigest()


def link_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the chained fields of a stored transaction document."""
    return chain_hash(record, CHAINED_FIELDS)


@dataclass(frozen=True)
class ChainCheck:
    """Result of walking one hash chain. `broken_position` names the first bad link."""

    ok: bool
    checked: int
    head_position: int
    first_position: int | None = None
    last_position: int | None = None
    broken_position: int | None = None
    reason: str | None = None
    machine_id: ObjectId | None = None


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


async def verify_machine_chain(
    *, scope: Scope, machine_id: ObjectId, retention_days: int
) -> ChainCheck:
    """Walk the machine's chain and report the first inconsistency.

    Records older than the retention period are removed by the TTL index, so the walk may
    start after position 1; that is accepted only when the first remaining record is itself
    at the retention edge (within one day of expiring).
    """
    machine = await get_machine(scope=scope, machine_id=machine_id)
    if machine is None:
        raise not_found("machine")
    state = await find_inventory_state(scope=scope, machine_id=machine_id)
    edge = datetime.now(UTC) - timedelta(days=retention_days - 1)
    check = await walk_chain(
        iter_chain(scope=scope, machine_id=machine_id),
        position_field="chain_position",
        hashed_fields=CHAINED_FIELDS,
        noun="record",
        head_position=state["chain_position"] if state else 0,
        head_hash=state["chain_hash"] if state else GENESIS_HASH,
        prefix_expired=lambda first: first["received_at"] <= edge,
    )
    return replace(check, machine_id=machine_id)
