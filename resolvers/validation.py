"""Small validators shared by the business operations; each returns a UserError or None."""

from __future__ import annotations

from models.currencies import get_currency
from models.timezones import MAX_TIME_ZONE_LENGTH, time_zone_name
from resolvers.errors import ErrorCode, UserError

MAX_NAME_LENGTH = 120


def is_text(value: str) -> bool:
    """Whether `value` is valid Unicode text (encodable as UTF-8: no unpaired surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_timezone(field: str, value: str) -> UserError | None:
    if time_zone_name(value) is None:
        shown = value[:MAX_TIME_ZONE_LENGTH] + ("..." if len(value) > MAX_TIME_ZONE_LENGTH else "")
        return UserError(
            field,
            ErrorCode.INVALID,
            f"unknown time zone {shown!r}: use an IANA name such as Europe/Berlin",
        )
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
