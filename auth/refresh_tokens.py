"""Opaque bearer secrets: refresh tokens (`ccr_...`) and invitations (`cci_...`).

Each is a prefix plus 43 url-safe base64 characters (256 random bits). Only the HMAC
(server-side pepper) is stored, like an API key secret; the prefix lets secret scanners spot
a leaked one, and a malformed value is refused without a database lookup.
"""

from __future__ import annotations

import re
import secrets

from auth.api_keys import hash_secret

REFRESH_PREFIX = "ccr_"
INVITE_PREFIX = "cci_"
_BODY_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def generate_opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def opaque_token_hash(token: str, *, prefix: str, pepper: str) -> str | None:
    """The stored form of a well-formed token of this kind, or None for anything else."""
    token = token.strip()
    if not token.startswith(prefix) or _BODY_RE.fullmatch(token[len(prefix) :]) is None:
        return None
    return hash_secret(token, pepper=pepper)


def opaque_token_hashes(token: str, *, prefix: str, peppers: list[str]) -> list[str] | None:
    """The stored form under each pepper (current first) while a pepper is being retired."""
    hashes = [opaque_token_hash(token, prefix=prefix, pepper=p) for p in peppers]
    return None if hashes[0] is None else [h for h in hashes if h is not None]


def generate_refresh_token() -> str:
    return generate_opaque_token(REFRESH_PREFIX)


def refresh_token_hash(token: str, *, pepper: str) -> str | None:
    return opaque_token_hash(token, prefix=REFRESH_PREFIX, pepper=pepper)


def refresh_token_hashes(token: str, *, peppers: list[str]) -> list[str] | None:
    return opaque_token_hashes(token, prefix=REFRESH_PREFIX, peppers=peppers)
