"""The canonical form every hash chain hashes: sorted keys, no whitespace, UTF-8, datetimes as
ISO-8601 UTC with milliseconds, object ids as their 24 hex digits (docs/audit.md).

Apart from the database code so an offline verifier can import it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId


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
