"""Access tokens: creation and decoding of short-lived JWTs live here and nowhere else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from auth.errors import AuthenticationError
from config import Settings

ALGORITHM = "HS256"
KEY_ID = "k1"
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    org_id: str
    expires_at: datetime


def issue_access_token(*, user_id: str, org_id: str, settings: Settings) -> tuple[str, datetime]:
    """A signed access token for the user and when it expires."""
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
    }
    token = jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM, headers={"kid": KEY_ID})
    return token, expires


def decode_access_token(token: str, *, settings: Settings) -> AccessClaims:
    """Verify signature, algorithm, expiry, issuer and audience; raise AuthenticationError."""
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("access token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationError("invalid access token") from exc
    return AccessClaims(
        user_id=payload["sub"],
        org_id=payload["org"],
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )
