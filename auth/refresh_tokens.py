"""Opaque refresh tokens: `ccr_<43 url-safe base64 characters>` (256 random bits).

Only the HMAC (server-side pepper) of a token is stored, like an API key secret; the prefix
lets secret scanners spot a leaked one.
"""

from __future__ import annotations

import re
import secrets

from auth.api_keys import hash_secret

PREFIX = "ccr_"
_TOKEN_RE = re.compile(r"^ccr_[A-Za-z0-9_-]{43}$")


def generate_refresh_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def refresh_token_hash(token: str, *, pepper: str) -> str | None:
    """The stored form of a well-formed token, or None for anything malformed."""
    token = token.strip()
    if _TOKEN_RE.match(token) is None:
        return None
    return hash_secret(token, pepper=pepper)
