"""Rate limits that hold across worker processes (token buckets in MongoDB).

A throttled caller gets a retryable `RATE_LIMITED` error with a `retryAfter` hint.
"""

from __future__ import annotations

import hashlib

from auth.errors import PublicError, RequestErrorCode
from auth.principal import Principal
from config import Settings
from models.db import get_database
from models.rate_limit import take_token


class RateLimited(PublicError):
    code = RequestErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retryable=True, retry_after=max(retry_after, 0.001))


async def check_api_key_rate(principal: Principal, *, settings: Settings) -> None:
    """Take a token from the key's bucket or raise RateLimited."""
    result = await take_token(
        get_database().db,
        f"key:{principal.actor_id}",
        capacity=settings.api_key_rate_burst,
        per_second=settings.api_key_rate_per_second,
    )
    if not result.allowed:
        raise RateLimited("API key rate limit exceeded", retry_after=result.retry_after)


def _account_bucket(email: str) -> str:
    # Hashed so the collection does not hold e-mail addresses.
    return "login-account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def check_login_rate(*, email: str, client_address: str | None, settings: Settings) -> None:
    """Take a token from the account's and the client address's login buckets.

    Keyed by the e-mail as typed (normalized), so unknown and known accounts are throttled
    alike and the throttle reveals nothing about which e-mails exist.
    """
    db = get_database().db
    checks = [
        (
            _account_bucket(email),
            settings.login_account_burst,
            settings.login_account_per_minute / 60,
        )
    ]
    if client_address:
        checks.append(
            (
                f"login-address:{client_address}",
                settings.login_address_burst,
                settings.login_address_per_minute / 60,
            )
        )
    for bucket, capacity, per_second in checks:
        result = await take_token(db, bucket, capacity=capacity, per_second=per_second)
        if not result.allowed:
            raise RateLimited("too many login attempts", retry_after=result.retry_after)
