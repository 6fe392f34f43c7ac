"""Client-supplied instants, normalised in one place: UTC, aware, within a sane range."""

from __future__ import annotations

from datetime import UTC, datetime

from resolvers.errors import CommonErrorCode, ServiceError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def to_utc(value: datetime) -> datetime | None:
    """`value` as an aware UTC datetime (naive means UTC), or None when it is out of range
    (before 1970 or in the year 9999, where conversions overflow)."""
    try:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        utc = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc if EARLIEST <= utc < LATEST else None


def client_instant(field: str, value: datetime) -> datetime:
    """`to_utc(value)`, or a BAD_TIMESTAMP error naming `field`."""
    utc = to_utc(value)
    if utc is None:
        raise ServiceError.of(
            CommonErrorCode.BAD_TIMESTAMP, f"{field} must be between 1970 and 9998 (UTC)"
        )
    return utc


def optional_instant(field: str, value: datetime | None) -> datetime | None:
    return None if value is None else client_instant(field, value)
