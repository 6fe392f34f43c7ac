"""Error codes of the audit domain (proofs, checkpoints, witnesses)."""

from enum import StrEnum


class AuditErrorCode(StrEnum):
    BAD_TREE_SIZE = "BAD_TREE_SIZE"
    NO_CHECKPOINT = "NO_CHECKPOINT"
    BAD_COSIGNATURE = "BAD_COSIGNATURE"
