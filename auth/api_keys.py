"""API key format: generation, parsing with checksum, and keyed hashing of the secret.

A key reads `cck_<env>_<key id>_<secret><checksum>`:
- `cck_` names the kind (Cash Command Center key) so secret scanners can find leaked keys;
- `<env>` is `live` or `test`;
- `<key id>` (16 lowercase base32 characters) is public and indexes the stored record;
- `<secret>` is 40 base62 characters (about 238 bits) and is never stored, only its HMAC;
- `<checksum>` is 6 base62 characters of CRC32 over everything before it, so a mistyped or
  truncated key is rejected without a database lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

PREFIX = "cck"
_BASE62 = string.digits + string.ascii_letters
_SECRET_LENGTH = 40
_CHECKSUM_LENGTH = 6
_KEY_RE = re.compile(
    rf"^{PREFIX}_(live|test)_([a-z2-7]{{16}})_([0-9A-Za-z]{{{_SECRET_LENGTH + _CHECKSUM_LENGTH}}})$"
)


@dataclass(frozen=True)
class ParsedKey:
    environment: str
    key_id: str
    secret: str


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_key(environment: str) -> tuple[str, ParsedKey]:
    """A new random key: the full string to show once, and its parts."""
    key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    secret = "".join(secrets.choice(_BASE62) for _ in range(_SECRET_LENGTH))
    body = f"{PREFIX}_{environment}_{key_id}_{secret}"
    return body + _checksum(body), ParsedKey(environment, key_id, secret)


def rebuild_key(parsed: ParsedKey, *, key_id: str) -> tuple[str, ParsedKey]:
    """The same secret and environment under another key id (used when rotating a key, so
    the public id and prefix of the key stay the same)."""
    body = f"{PREFIX}_{parsed.environment}_{key_id}_{parsed.secret}"
    return body + _checksum(body), ParsedKey(parsed.environment, key_id, parsed.secret)


def parse_key(raw: str) -> ParsedKey | None:
    """The parts of a well-formed key with a valid checksum, else None."""
    match = _KEY_RE.match(raw.strip())
    if match is None:
        return None
    environment, key_id, tail = match.groups()
    secret, checksum = tail[:_SECRET_LENGTH], tail[_SECRET_LENGTH:]
    body = f"{PREFIX}_{environment}_{key_id}_{secret}"
    if not hmac.compare_digest(_checksum(body), checksum):
        return None
    return ParsedKey(environment, key_id, secret)


def hash_secret(secret: str, *, pepper: str) -> str:
    """HMAC-SHA256 of the secret under the server-side pepper (hex)."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(secret: str, stored_hash: str, *, pepper: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, pepper=pepper), stored_hash)


def display_prefix(parsed: ParsedKey) -> str:
    """The non-secret part shown in listings: `cck_test_<key id>`."""
    return f"{PREFIX}_{parsed.environment}_{parsed.key_id}"
