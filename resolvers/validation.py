"""Small validators shared by the business operations; each returns a UserError or None."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.currencies import get_currency
from resolvers.errors import ErrorCode, UserError

MAX_NAME_LENGTH = 120


def check_timezone(field: str, value: str) -> UserError | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return UserError(field, ErrorCode.INVALID, f"unknown time zone {value!r}")
    return None


def check_currency(field: str, value: str) -> UserError | None:
    if get_currency(value) is None:
        return UserError(field, ErrorCode.INVALID, f"unsupported currency {value!r}")
    return None


def check_name(field: str, value: str, *, max_length: int = MAX_NAME_LENGTH) -> UserError | None:
    if not value.strip():
        return UserError(field, ErrorCode.INVALID, "must not be empty")
    if len(value) > max_length:
        return UserError(field, ErrorCode.INVALID, f"must be at most {max_length} characters")
    return None


def collect(*checks: UserError | None) -> list[UserError]:
    return [c for c in checks if c is not None]
