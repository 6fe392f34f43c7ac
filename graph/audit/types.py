"""Checkpoints, public keys and proofs; each reads its source by field name.

`AuditCheckpointType` reads a stored checkpoint document (models.audit.AuditCheckpoint); the
proofs read resolvers.audit.proofs' dataclasses; the key type a PublicKey.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import strawberry

from graph.common import Connection, Payload
from graph.enums import KeyRole
from graph.scalars import Long


@strawberry.type(name="AuditCheckpoint")
class AuditCheckpointType:
    machine_id: strawberry.ID | None = strawberry.field(
        description="The machine whose log this is; null for the security log."
    )
    origin: str = strawberry.field(description="The log's name, the note's first line.")
    size: Long = strawberry.field(description="Leaves (records) in the tree.")
    key_name: str
    key_id: str = strawberry.field(description="The signing key's id, 8 hex digits.")
    as_of: datetime = strawberry.field(
        description="The hour or shop-local midnight this checkpoint closes (or the time of a "
        "manual run); it grows with the size."
    )
    created_at: datetime
    note: str = strawberry.field(
        description="The signed note as published (C2SP tlog-checkpoint and signed-note): "
        "body, a blank line, the log's signature and any witness cosignatures."
    )

    @strawberry.field(description="The tree's root hash, standard base64 (as in the note).")
    def root_hash(self, root: strawberry.Parent[dict[str, Any]]) -> str:
        return base64.b64encode(bytes.fromhex(root["root"])).decode("ascii")


AuditCheckpointConnection = Connection[AuditCheckpointType]


@strawberry.type(name="AuditPublicKey")
class AuditPublicKeyType:
    name: str
    key_id: str = strawberry.field(description="8 hex digits.")
    verifier_key: str = strawberry.field(
        description="`<name>+<key id>+<base64(type || public key)>`, as Go's sumdb/note reads it."
    )
    algorithm: str
    role: KeyRole
    active: bool = strawberry.field(
        description="LOG: signs new checkpoints (the others are retired and still verify)."
    )


@strawberry.type(name="InclusionProof")
class InclusionProofType:
    machine_id: strawberry.ID
    transaction_id: strawberry.ID
    chain_position: Long
    leaf_index: Long = strawberry.field(description="chainPosition - 1.")
    tree_size: Long
    transaction_hash: str = strawberry.field(description="The chain hash, 64 hex digits.")
    leaf_hash: str = strawberry.field(
        description="SHA-256(0x00 || transaction hash bytes), base64."
    )
    hashes: list[str] = strawberry.field(
        description="RFC 9162 audit path, bottom first, base64 each."
    )
    checkpoint: AuditCheckpointType


@strawberry.type(name="ConsistencyProof")
class ConsistencyProofType:
    machine_id: strawberry.ID
    from_size: Long
    to_size: Long
    hashes: list[str] = strawberry.field(
        description="RFC 9162 consistency proof, base64 each (empty when the sizes are equal)."
    )
    from_checkpoint: AuditCheckpointType
    to_checkpoint: AuditCheckpointType


@strawberry.type
class SetAuditWitnessesPayload(Payload):
    witness_keys: list[AuditPublicKeyType] = strawberry.field(default_factory=list)


@strawberry.type
class CosignAuditCheckpointPayload(Payload):
    checkpoint: AuditCheckpointType | None = None
