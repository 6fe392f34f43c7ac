"""Typed errors a user can act on, returned as data in mutation payloads (`userErrors`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FORBIDDEN = "FORBIDDEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ORGANIZATION_REQUIRED = "ORGANIZATION_REQUIRED"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IN_PROGRESS = "IN_PROGRESS"
    MACHINE_NOT_COVERED = "MACHINE_NOT_COVERED"


@dataclass(frozen=True)
class UserError:
    """`field` is the input path (e.g. `input.machineId`), or None for the whole request."""

    field: str | None
    code: ErrorCode
    message: str
    retryable: bool = False
