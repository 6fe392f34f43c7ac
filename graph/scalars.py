"""Custom scalars, registered on the schema through `SCALAR_MAP`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import NewType

import dateutil.parser
import strawberry

MAX_SAFE_JSON_INTEGER = 2**53 - 1
# ASCII digits only: `str.isdigit` and `int()` also accept Arabic-Indic and other digits.
_DECIMAL = re.compile(r"-?[0-9]+")
_MAX_DECIMAL_LENGTH = 21  # "-9223372036854775808"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _serialize_long(value: int) -> int | str:
    return value if abs(value) <= MAX_SAFE_JSON_INTEGER else str(value)


def _parse_long(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("Long cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        if len(value) > _MAX_DECIMAL_LENGTH:
            raise ValueError("Long must fit in a signed 64-bit integer")
        number = int(value)
    else:
        raise ValueError(
            f"Long cannot represent {value[:40]!r}"
            if isinstance(value, str)
            else f"Long cannot represent {type(value).__name__}"
        )
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("Long must fit in a signed 64-bit integer")
    return number


Long = NewType("Long", int)

LONG_SCALAR = strawberry.scalar(
    name="Long",
    description=(
        "A signed 64-bit integer (amounts in minor units, sequence numbers). Serialized as a "
        "JSON number when it is at most 2^53-1 in magnitude, otherwise as a decimal string; "
        "accepted as a number or a decimal string."
    ),
    serialize=_serialize_long,
    parse_value=_parse_long,
)


def _parse_datetime(value: object) -> datetime:
    """ISO 8601; a time without an offset means UTC. Every datetime a resolver receives is
    therefore aware, so comparisons with the server's clock cannot fail. Range checks stay
    with each field (resolvers.timestamps), so one unusable ingest record is rejected on its
    own rather than failing the whole batch."""
    if not isinstance(value, str):
        raise ValueError(f"DateTime cannot represent {value!r}: use an ISO 8601 string")
    try:
        parsed = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{value[:64]!r} is not an ISO 8601 date and time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="Date with time, ISO 8601 (a time without an offset means UTC).",
    serialize=datetime.isoformat,
    parse_value=_parse_datetime,
)

SCALAR_MAP = {Long: LONG_SCALAR, datetime: DATETIME_SCALAR}
