"""PLACEHOLDER until the webhooks branch is merged (it replaces this file)."""

from enum import StrEnum


class WebhookEvent(StrEnum):
    FIRING = "FIRING"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    FLAPPING = "FLAPPING"
    TEST = "TEST"
