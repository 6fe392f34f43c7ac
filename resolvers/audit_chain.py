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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from auth.errors import NotFound
from models.ledger import GENESIS_HASH
from models.ledger_store import find_inventory_state, iter_chain
from models.machine_store import get_machine
from models.scope import Scope

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
class ChainVerification:
    """Result of checking one machine's chain. `broken_position` names the first bad link."""

    machine_id: ObjectId
    ok: bool
    checked: int
    first_position: int | None
    last_position: int | None
    head_position: int
    broken_position: int | None = None
    reason: str | None = None


async def verify_machine_chain(
    *, scope: Scope, machine_id: ObjectId, retention_days: int
) -> ChainVerification:
    """Walk the machine's chain in position order and report the first inconsistency.

    Records older than the retention period are removed by the TTL index, so the walk may
    start after position 1; that is accepted only when the first remaining record is itself
    at the retention edge (within one day of expiring).
    """
    machine = await get_machine(scope=scope, machine_id=machine_id)
    if machine is None:
        raise NotFound("machine not found")
    state = await find_inventory_state(scope=scope, machine_id=machine_id)
    head_position = state["chain_position"] if state else 0
    head_hash = state["chain_hash"] if state else GENESIS_HASH

    def result(ok: bool, **kw: Any) -> ChainVerification:
        return ChainVerification(machine_id=machine_id, ok=ok, head_position=head_position, **kw)

    checked = 0
    first: int | None = None
    expected_position: int | None = None
    prev_hash: str | None = None
    async for record in iter_chain(scope=scope, machine_id=machine_id):
        position = record["chain_position"]
        if position > head_position:
            break  # committed after the head was read: newer than what is being verified
        if first is None:
            first = position
            if position != 1:
                edge = datetime.now(UTC) - timedelta(days=retention_days - 1)
                if record["received_at"] > edge:
                    return result(
                        False,
                        checked=0,
                        first_position=first,
                        last_position=None,
                        broken_position=position - 1,
                        reason="records before this position are missing but not expired",
                    )
            expected_position = position
            prev_hash = record["prev_hash"] if position != 1 else GENESIS_HASH
        if position != expected_position:
            return result(
                False,
                checked=checked,
                first_position=first,
                last_position=position,
                broken_position=expected_position,
                reason=f"position {expected_position} is missing or out of order",
            )
        if record["prev_hash"] != prev_hash:
            return result(
                False,
                checked=checked,
                first_position=first,
                last_position=position,
                broken_position=position,
                reason="link to the previous record does not match",
            )
        if link_hash(record) != record["hash"]:
            return result(
                False,
                checked=checked,
                first_position=first,
                last_position=position,
                broken_position=position,
                reason="record content does not match its hash",
            )
        checked += 1
        prev_hash = record["hash"]
        expected_position = position + 1

    last = None if expected_position is None else expected_position - 1
    if (last or 0) != head_position or (prev_hash or GENESIS_HASH) != head_hash:
        return result(
            False,
            checked=checked,
            first_position=first,
            last_position=last,
            broken_position=(last or 0) + 1,
            reason="newest records are missing: the chain ends before the recorded head",
        )
    return result(True, checked=checked, first_position=first, last_position=last)
