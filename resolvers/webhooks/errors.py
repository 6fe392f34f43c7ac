"""Error codes of the webhooks domain."""

from enum import StrEnum


class WebhookErrorCode(StrEnum):
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    TOO_MANY_WEBHOOKS = "TOO_MANY_WEBHOOKS"
