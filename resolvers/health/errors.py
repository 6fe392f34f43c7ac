"""Error codes of the health domain (telemetry ingest)."""

from enum import StrEnum


class HealthErrorCode(StrEnum):
    TOO_MANY_MESSAGES = "TOO_MANY_MESSAGES"
