"""Error codes of the analytics domain."""

from enum import StrEnum


class AnalyticsErrorCode(StrEnum):
    BAD_RANGE = "BAD_RANGE"
    BAD_HORIZON = "BAD_HORIZON"
