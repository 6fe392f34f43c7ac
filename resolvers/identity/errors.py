"""Error codes of the identity domain (sessions, users, API keys)."""

from enum import StrEnum


class IdentityErrorCode(StrEnum):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ORGANIZATION_REQUIRED = "ORGANIZATION_REQUIRED"
