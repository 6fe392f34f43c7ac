"""Custom scalars, registered on the schema through `SCALAR_MAP`."""

from __future__ import annotations

from typing import NewType

import strawberry

MAX_SAFE_JSON_INTEGER = 2**53 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _serialize_long(value: int) -> int | str:
    return value if abs(value) <= MAX_SAFE_JSON_INTEGER else str(value)


def _parse_long(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("Long cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.lstrip("-").isdigit():
        number = int(value)
    else:
        raise ValueError(f"Long cannot represent {value!r}")
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

SCALAR_MAP = {Long: LONG_SCALAR}
