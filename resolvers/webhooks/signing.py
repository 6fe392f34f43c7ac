"""The `Cashcc-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The key is the whole secret string as `createWebhook` returned it (`whsec_...`, UTF-8). While
a rotation's overlap runs the header carries one `v1=` per secret (new first), so a receiver
may switch to the new secret at any moment of the overlap. `t` is the time of the attempt,
not of the incident: a retry is signed anew, and receivers reject signatures older than
5 minutes (docs/alerts.md#webhooks).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "Cashcc-Signature"


def sign(secret: str, *, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], *, timestamp: int, body: bytes) -> str:
    signatures = [f"v1={sign(secret, timestamp=timestamp, body=body)}" for secret in secrets]
    return ",".join([f"t={timestamp}", *signatures])
