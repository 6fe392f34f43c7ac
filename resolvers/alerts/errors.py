"""Error codes of the alerts domain."""

from enum import StrEnum


class AlertErrorCode(StrEnum):
    INVALID_TRANSITION = "INVALID_TRANSITION"
