"""Webhook signing secrets: generated, sealed at rest, opened to sign.

A signing secret must be usable for HMAC, so unlike API keys it cannot be stored hashed. It is
encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from `WEBHOOK_SECRET_KEY`, with
the organization and webhook ids as associated data: a sealed secret copied onto another
webhook does not open. `kid` names the settings key that sealed it, so retired keys listed in
`WEBHOOK_SECRET_PREVIOUS_KEYS` still open old secrets while new ones are sealed under the
current key. The plain secret is returned to the caller once and never logged.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any

from bson import ObjectId
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
HKDF_INFO = b"cashcc webhook signing secrets v1"
NONCE_BYTES = 12


class SecretUnavailable(Exception):
    """No configured key opens the sealed secret (the key that sealed it was removed, or
    the record was altered)."""


def generate_secret() -> str:
    """`whsec_` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _derive(key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        key.encode()
    )


def _kid(derived: bytes) -> str:
    return hashlib.sha256(derived).hexdigest()[:16]


def _associated(org_id: ObjectId, webhook_id: ObjectId) -> bytes:
    return f"{org_id}:{webhook_id}".encode()


def seal(secret: str, *, keys: list[str], org_id: ObjectId, webhook_id: ObjectId) -> dict[str, Any]:
    """The secret encrypted under the first of `keys` (the current one)."""
    derived = _derive(keys[0])
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(derived).encrypt(nonce, secret.encode(), _associated(org_id, webhook_id))
    return {"kid": _kid(derived), "nonce": nonce, "ciphertext": ciphertext}


def open_sealed(
    sealed: dict[str, Any], *, keys: list[str], org_id: ObjectId, webhook_id: ObjectId
) -> str:
    """The plain secret; raises SecretUnavailable when no key of `keys` opens it."""
    for key in keys:
        derived = _derive(key)
        if _kid(derived) != sealed.get("kid"):
            continue
        try:
            plain = AESGCM(derived).decrypt(
                bytes(sealed["nonce"]),
                bytes(sealed["ciphertext"]),
                _associated(org_id, webhook_id),
            )
        except (InvalidTag, KeyError, TypeError, ValueError) as exc:
            raise SecretUnavailable(f"webhook {webhook_id}: sealed secret does not open") from exc
        return plain.decode()
    raise SecretUnavailable(f"webhook {webhook_id}: the key that sealed its secret is not set")
