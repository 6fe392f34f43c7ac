"""Access tokens: creation and decoding of short-lived JWTs live here and nowhere else.

Signing keys form a ring (`Settings.jwt_key_ring`, `kid -> secret`): the key named by
`jwt_active_kid` signs, every key in the ring verifies, so a key is rotated by adding the new
one, making it active, and dropping the old one after one access-token lifetime. Only the
algorithms in `ALLOWED_ALGORITHMS` are accepted (never `none`, never a public-key algorithm
that could be confused with an HMAC secret).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from auth.errors import AuthenticationError
from config import Settings

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = (ALGORITHM,)


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    org_id: str
    expires_at: datetime
    session_id: str


def issue_access_token(
    *, user_id: str, org_id: str, session_id: str, settings: Settings
) -> tuple[str, datetime]:
    """A token for the user signed with the active key, and when it expires.

    `session_id` names the session (refresh-token family) the token belongs to (claim `sid`);
    the token stops working when that session ends.
    """
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=settings.access_token_ttl_seconds)
    payload = {
        "sub": user_id,
        "org": org_id,
        "iat": now,
        "nbf": now,
        "exp": expires,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        "sid": session_id,
    }
    kid = settings.jwt_active_kid
    secret = settings.jwt_key_ring[kid]
    token = jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid})
    return token, expires


def decode_access_token(token: str, *, settings: Settings) -> AccessClaims:
    """Verify kid, algorithm, signature, exp/iat/nbf, issuer, audience and the session claim.

    Raises AuthenticationError; the message only says "expired" or "invalid". A token must
    name its session (`sid`) and may not live longer than the access-token lifetime allows:
    we never issue one that does, so a longer one was not made by this service's rules.
    """
    try:
        header = jwt.get_unverified_header(token)
        secret = settings.jwt_key_ring.get(str(header.get("kid")))
        if secret is None or header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthenticationError("invalid access token")
        payload = jwt.decode(
            token,
            secret,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss", "sid"]},
        )
        issued, expires = payload["iat"], payload["exp"]
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (issued, expires)
        ):
            raise AuthenticationError("invalid access token")
        lifetime = settings.access_token_ttl_seconds + settings.jwt_leeway_seconds
        if expires - issued > lifetime or not isinstance(payload["sid"], str):
            raise AuthenticationError("invalid access token")
        issued_at = datetime.fromtimestamp(issued, UTC)
        expires_at = datetime.fromtimestamp(expires, UTC)
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("access token expired") from exc
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise AuthenticationError("invalid access token") from exc
    if issued_at > datetime.now(UTC) + timedelta(seconds=settings.jwt_leeway_seconds):
        raise AuthenticationError("invalid access token")
    return AccessClaims(
        user_id=str(payload["sub"]),
        org_id=str(payload.get("org")),
        expires_at=expires_at,
        session_id=payload["sid"],
    )
