"""The verifiable audit logs: stored Merkle tree nodes, signed checkpoints, and the scheduler's
slots (docs/audit.md).

A log is identified by `(org_id, machine_id)`: one per machine (its transactions in chain
order) and one per organization for the security log, whose `machine_id` is None. None of
these collections is under the retention TTL: tree nodes and checkpoints are kept forever, so
proofs keep working after the raw records expired.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from beanie import Document, PydanticObjectId
from bson import ObjectId
from pydantic import Field

from models.indexes import ascending, expiry


class LogKey(NamedTuple):
    """Which log: a machine's (`machine_id`), or the organization's security log (None)."""

    org_id: ObjectId
    machine_id: ObjectId | None


_PER_LOG = ("org_id", "machine_id")


class AuditTreePage(Document):
    """The hashes of every complete subtree whose last leaf is one of a page's leaves.

    Page `p` covers leaves `[p * PAGE_LEAVES, (p + 1) * PAGE_LEAVES)`; `hashes` lists the nodes
    those leaves complete, in the order appends complete them (a leaf, then the interior nodes
    it closes, level by level), so a node's place in its page follows from its address alone
    (`models.audit_store.node_slot`). Written in the transaction that appends the leaves,
    never changed afterwards.
    """

    org_id: PydanticObjectId
    machine_id: PydanticObjectId | None
    shop_id: PydanticObjectId | None
    page: int
    filled: int
    hashes: list[bytes]

    class Settings:
        name = "audit_tree_pages"
        indexes = [ascending(*_PER_LOG, "page", unique=True)]


class AuditCheckpoint(Document):
    """A signed checkpoint of one log (C2SP tlog-checkpoint as a signed note).

    `as_of` is the time the checkpoint closes (the hour or the shop's local midnight it was
    made for, or the moment of a manual run); it never decreases with `size` within a log.
    `note` is the signed note exactly as published; witnesses append cosignature lines to it.
    """

    org_id: PydanticObjectId
    machine_id: PydanticObjectId | None
    shop_id: PydanticObjectId | None
    origin: str
    size: int
    root: str = Field(description="Root hash, 64 hex digits.")
    note: str
    key_name: str
    key_id: str = Field(description="The signing key's id, 8 hex digits.")
    as_of: datetime
    created_at: datetime

    class Settings:
        name = "audit_checkpoints"
        indexes = [
            ascending(*_PER_LOG, "size", unique=True),
            ascending(*_PER_LOG, "as_of"),
        ]


class AuditLogHead(Document):
    """The size, root and `as_of` of a log's newest checkpoint, so finding the logs that grew
    reads one small document per log instead of every checkpoint."""

    org_id: PydanticObjectId
    machine_id: PydanticObjectId | None
    shop_id: PydanticObjectId | None
    size: int
    root: str
    as_of: datetime

    class Settings:
        name = "audit_logs"
        indexes = [ascending(*_PER_LOG, unique=True)]


class AuditSlot(Document):
    """One scheduled checkpoint run (`hour:2026-11-30T14`, `day:Europe/Berlin:2026-11-29`):
    the worker that inserted it (or took it over after its lease ended) runs it."""

    id: str = Field(alias="_id")  # type: ignore[assignment]
    owner: str
    lease_until: datetime
    done_at: datetime | None = None
    checkpoints: int = 0
    expires_at: datetime

    class Settings:
        name = "audit_schedule"
        indexes = [expiry()]
