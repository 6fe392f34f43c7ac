"""Password hashing with argon2id."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown e-mail costs the same time as
# a wrong password and the two cannot be told apart.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_in_thread(password: str) -> str:
    """`hash_password` off the event loop: argon2 takes most of a second on a small machine."""
    return await asyncio.to_thread(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always does the full argon2 work, even without a hash."""
    try:
        matched = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    # An empty or missing hash never matches, even the dummy hash's own password.
    return matched and bool(password_hash)


# The most common passwords of the required length (breach corpora); a small list catches the
# guesses an online attacker tries first, which the login throttle then makes impractical.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "qwertyuiop",
        "1q2w3e4r5t",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "qwerty1234",
        "abcdefghij",
        "letmein123",
        "welcome123",
        "administrator",
        "changeme123",
    }
)
MAX_PASSWORD_LENGTH = 256


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why a new password is unacceptable, or None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if len(set(password)) < 4:
        return "must not repeat a few characters"
    if password.lower() in _COMMON:
        return "is one of the most common passwords"
    local = (email or "").split("@")[0].lower()
    if len(local) >= 4 and local in password.lower():
        return "must not contain the e-mail address"
    return None
