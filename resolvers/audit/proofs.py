"""Checkpoints, public keys and proofs for callers of the API (ORG_ADMIN, AUDITOR).

Every proof is built from the stored tree nodes in one query (resolvers/audit/merkle.py's
two-phase API), and only against a size the log signed: a proof to an unsigned root proves
nothing to an auditor. Hashes leave the service in standard base64, as in checkpoints.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from config import Settings
from models.audit_store import (
    fetch_tree_nodes,
    find_checkpoint,
    latest_checkpoint,
    page_checkpoints,
)
from models.ledger_store import find_transaction
from models.machine_store import get_machine
from models.org_store import get_organization
from models.scope import Scope
from resolvers.audit.errors import AuditErrorCode
from resolvers.audit.keys import key_ring
from resolvers.audit.merkle import (
    consistency_proof,
    consistency_proof_addresses,
    inclusion_proof,
    inclusion_proof_addresses,
    transaction_leaf_hash,
)
from resolvers.audit.note import ALGORITHMS, parse_verifier_key
from resolvers.errors import ServiceError, not_found
from resolvers.ids import parse_object_id
from resolvers.pagination import Page, check_page_size, decode_cursor, encode_cursor

MAX_TREE_SIZE = 2**63 - 1


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


class KeyRole(StrEnum):
    LOG = "LOG"
    WITNESS = "WITNESS"


@dataclass(frozen=True)
class PublicKey:
    name: str
    key_id: str
    verifier_key: str
    algorithm: str
    role: KeyRole
    active: bool


@dataclass(frozen=True)
class InclusionProof:
    machine_id: ObjectId
    transaction_id: ObjectId
    chain_position: int
    leaf_index: int
    tree_size: int
    transaction_hash: str
    leaf_hash: str
    hashes: list[str]
    checkpoint: dict[str, Any]


@dataclass(frozen=True)
class ConsistencyProof:
    machine_id: ObjectId
    from_size: int
    to_size: int
    hashes: list[str]
    from_checkpoint: dict[str, Any]
    to_checkpoint: dict[str, Any]


def bad_size(field: str, message: str) -> ServiceError:
    return ServiceError.of(AuditErrorCode.BAD_TREE_SIZE, message, field=field)


def check_size(field: str, size: int) -> int:
    if not 1 <= size <= MAX_TREE_SIZE:
        raise bad_size(field, f"{field} must be a tree size of at least 1, got {size}")
    return size


async def machine_in_scope(scope: Scope, machine_id: str, field: str) -> ObjectId:
    oid = parse_object_id(machine_id)
    machine = await get_machine(scope=scope, machine_id=oid) if oid is not None else None
    if machine is None:
        raise not_found("machine", field=field)
    return machine.id


async def signed_checkpoint(
    scope: Scope, machine_id: ObjectId, size: int, field: str
) -> dict[str, Any]:
    checkpoint = await find_checkpoint(scope=scope, machine_id=machine_id, size=size)
    if checkpoint is None:
        raise ServiceError.of(
            AuditErrorCode.NO_CHECKPOINT,
            f"the log has no signed checkpoint of size {size} (auditCheckpoints lists them)",
            field=field,
        )
    return checkpoint


def _cursor_of(doc: dict[str, Any]) -> str:
    return encode_cursor([doc["size"]])


def _parse_key(key: list[Any]) -> int:
    (size,) = key
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_TREE_SIZE:
        raise ValueError("size")
    return size


async def checkpoint_page(
    *, scope: Scope, machine_id: ObjectId | None, first: int, after: str | None
) -> Page:
    """A log's checkpoints, largest first (the security log when `machine_id` is None)."""
    check_page_size(first)
    below = decode_cursor(after, _parse_key) if after is not None else None
    docs = await page_checkpoints(
        scope=scope, machine_id=machine_id, below_size=below, limit=first + 1
    )
    return Page.of(docs, first=first, cursor_of=_cursor_of)


async def machine_checkpoint_page(
    *, principal: Principal, machine_id: str, first: int, after: str | None
) -> Page:
    machine = await machine_in_scope(principal.scope, machine_id, "machineId")
    return await checkpoint_page(
        scope=principal.scope, machine_id=machine, first=first, after=after
    )


async def security_checkpoint_page(*, principal: Principal, first: int, after: str | None) -> Page:
    scope = Scope.organization(principal.org_id)
    return await checkpoint_page(scope=scope, machine_id=None, first=first, after=after)


def public_key_of(text: str, *, role: KeyRole, active: bool) -> PublicKey:
    verifier = parse_verifier_key(text)
    return PublicKey(
        name=verifier.name,
        key_id=f"{verifier.key_id:08x}",
        verifier_key=text,
        algorithm=ALGORITHMS[verifier.algorithm],
        role=role,
        active=active,
    )


async def public_keys(*, principal: Principal, settings: Settings) -> list[PublicKey]:
    """The log keys (the active one first, then retired ones that still verify) and the
    witness keys the organization registered."""
    ring = key_ring(settings)
    keys = [
        public_key_of(text, role=KeyRole.LOG, active=position == 0)
        for position, text in enumerate(ring.verifier_keys)
    ]
    org = await get_organization(scope=Scope.organization(principal.org_id))
    for text in org.audit_witness_keys if org else ():
        keys.append(public_key_of(text, role=KeyRole.WITNESS, active=True))
    return keys


async def transaction_inclusion(
    *, principal: Principal, transaction_id: str, checkpoint_size: int | None
) -> InclusionProof:
    """RFC 9162 inclusion proof of a stored transaction in a signed checkpoint of its
    machine's log (the newest when `checkpoint_size` is None)."""
    scope = principal.scope
    oid = parse_object_id(transaction_id)
    tx = await find_transaction(scope=scope, transaction_id=oid) if oid is not None else None
    if tx is None:
        raise not_found("transaction", field="transactionId")
    machine_id = tx["machine_id"]
    if checkpoint_size is None:
        checkpoint = await latest_checkpoint(scope=scope, machine_id=machine_id)
        if checkpoint is None:
            raise ServiceError.of(
                AuditErrorCode.NO_CHECKPOINT,
                "the machine's log has no signed checkpoint yet",
                field="checkpointSize",
            )
    else:
        size = check_size("checkpointSize", checkpoint_size)
        checkpoint = await signed_checkpoint(scope, machine_id, size, "checkpointSize")
    size, position = checkpoint["size"], tx["chain_position"]
    if position > size:
        raise bad_size(
            "checkpointSize",
            f"the transaction is at chain position {position}, after the checkpoint of size "
            f"{size}: ask for a later checkpoint",
        )
    leaf = position - 1
    nodes = await fetch_tree_nodes(
        scope=scope, machine_id=machine_id, addresses=inclusion_proof_addresses(leaf, size)
    )
    return InclusionProof(
        machine_id=machine_id,
        transaction_id=tx["_id"],
        chain_position=position,
        leaf_index=leaf,
        tree_size=size,
        transaction_hash=tx["hash"],
        leaf_hash=b64(transaction_leaf_hash(tx["hash"])),
        hashes=[b64(h) for h in inclusion_proof(leaf, size, nodes)],
        checkpoint=checkpoint,
    )


async def log_consistency(
    *, principal: Principal, machine_id: str, from_size: int, to_size: int
) -> ConsistencyProof:
    """RFC 9162 consistency proof between two signed checkpoints of a machine's log."""
    scope = principal.scope
    machine = await machine_in_scope(scope, machine_id, "machineId")
    check_size("fromSize", from_size)
    check_size("toSize", to_size)
    if from_size > to_size:
        raise bad_size(
            "toSize", f"toSize ({to_size}) must be at least fromSize ({from_size}): logs only grow"
        )
    older = await signed_checkpoint(scope, machine, from_size, "fromSize")
    newer = await signed_checkpoint(scope, machine, to_size, "toSize")
    nodes = await fetch_tree_nodes(
        scope=scope,
        machine_id=machine,
        addresses=consistency_proof_addresses(from_size, to_size),
    )
    return ConsistencyProof(
        machine_id=machine,
        from_size=from_size,
        to_size=to_size,
        hashes=[b64(h) for h in consistency_proof(from_size, to_size, nodes)],
        from_checkpoint=older,
        to_checkpoint=newer,
    )
