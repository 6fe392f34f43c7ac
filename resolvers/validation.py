"""Small validators shared by the business operations; each returns a UserError or None
(collect them with `resolvers.errors.raise_if_any`)."""

from __future__ import annotations

from auth.passwords import password_problem
from models.currencies import get_currency
from models.timezones import MAX_TIME_ZONE_LENGTH, time_zone_name
from resolvers.errors import CommonErrorCode, UserError

MAX_NAME_LENGTH = 120
# How long a rotated secret (an API key's, a webhook's) may keep working beside the new one.
MAX_OVERLAP_SECONDS = 7 * 86_400


def is_text(value: str) -> bool:
    """Whether `value` is valid Unicode text (encodable as UTF-8: no unpaired surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_overlap(field: str, seconds: int) -> UserError | None:
    if not 0 <= seconds <= MAX_OVERLAP_SECONDS:
        return UserError(
            field, CommonErrorCode.INVALID, f"must be between 0 and {MAX_OVERLAP_SECONDS}"
        )
    return None


def check_timezone(field: str, value: str) -> UserError | None:
    if time_zone_name(value) is None:
        shown = value[:MAX_TIME_ZONE_LENGTH] + ("..." if len(value) > MAX_TIME_ZONE_LENGTH else "")
        return UserError(
            field,
            CommonErrorCode.INVALID,
            f"unknown time zone {shown!r}: use an IANA name such as Europe/Berlin",
        )
    return None


def check_currency(field: str, value: str) -> UserError | None:
    if get_currency(value) is None:
        return UserError(field, CommonErrorCode.INVALID, f"unsupported currency {value!r}")
    return None


def check_name(field: str, value: str, *, max_length: int = MAX_NAME_LENGTH) -> UserError | None:
    if not value.strip():
        return UserError(field, CommonErrorCode.INVALID, "must not be empty")
    if len(value) > max_length:
        return UserError(field, CommonErrorCode.INVALID, f"must be at most {max_length} characters")
    return None


MAX_EMAIL_LENGTH = 254


def check_email(field: str, value: str) -> UserError | None:
    if "@" not in value or len(value) > MAX_EMAIL_LENGTH:
        return UserError(field, CommonErrorCode.INVALID, "not an e-mail address")
    return None


def check_password(field: str, password: str, *, email: str | None) -> UserError | None:
    problem = password_problem(password, email=email)
    return UserError(field, CommonErrorCode.INVALID, f"password {problem}") if problem else None
