"""Root Query fields of the audit logs: checkpoints, public keys, proofs."""

from __future__ import annotations

import strawberry

from graph.audit.types import (
    AuditCheckpointConnection,
    AuditPublicKeyType,
    ConsistencyProofType,
    InclusionProofType,
)
from graph.context import Info
from graph.scalars import Long
from resolvers.audit.proofs import (
    log_consistency,
    machine_checkpoint_page,
    public_keys,
    security_checkpoint_page,
    transaction_inclusion,
)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="A machine's signed checkpoints, largest first; `first` is 1 to 100."
    )
    async def audit_checkpoints(
        self, info: Info, machine_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> AuditCheckpointConnection:
        return await machine_checkpoint_page(
            principal=info.context.require_principal(),
            machine_id=machine_id,
            first=first,
            after=after,
        )

    @strawberry.field(
        description="The security log's signed checkpoints, largest first; `first` is 1 to 100."
    )
    async def security_log_checkpoints(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> AuditCheckpointConnection:
        return await security_checkpoint_page(
            principal=info.context.require_principal(), first=first, after=after
        )

    @strawberry.field(
        description="Keys that verify checkpoints: the service's log keys (active and "
        "retired) and the organization's witness keys. Pin them outside the service."
    )
    async def audit_public_keys(self, info: Info) -> list[AuditPublicKeyType]:
        return await public_keys(
            principal=info.context.require_principal(), settings=info.context.settings
        )

    @strawberry.field(
        description="Proof that a transaction is in its machine's log at a signed checkpoint "
        "(the newest when `checkpointSize` is omitted)."
    )
    async def inclusion_proof(
        self, info: Info, transaction_id: strawberry.ID, checkpoint_size: Long | None = None
    ) -> InclusionProofType:
        return await transaction_inclusion(
            principal=info.context.require_principal(),
            transaction_id=transaction_id,
            checkpoint_size=checkpoint_size,
        )

    @strawberry.field(
        description="Proof that the machine's signed checkpoint of `toSize` extends the one "
        "of `fromSize` (append-only)."
    )
    async def consistency_proof(
        self, info: Info, machine_id: strawberry.ID, from_size: Long, to_size: Long
    ) -> ConsistencyProofType:
        return await log_consistency(
            principal=info.context.require_principal(),
            machine_id=machine_id,
            from_size=from_size,
            to_size=to_size,
        )
