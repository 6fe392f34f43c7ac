"""Error codes of the ledger domain (ingest)."""

from enum import StrEnum


class LedgerErrorCode(StrEnum):
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IN_PROGRESS = "IN_PROGRESS"
