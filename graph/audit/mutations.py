"""Root Mutation fields of the audit logs: the organization's witnesses and their
cosignatures."""

from __future__ import annotations

import strawberry

from graph.audit.inputs import CosignAuditCheckpointInput, SetAuditWitnessesInput
from graph.audit.types import CosignAuditCheckpointPayload, SetAuditWitnessesPayload
from graph.context import Info
from resolvers.audit.witnesses import cosign, set_witnesses


@strawberry.type
class AuditMutations:
    @strawberry.mutation(description="Register the witnesses the organization runs.")
    async def set_audit_witnesses(
        self, info: Info, input: SetAuditWitnessesInput
    ) -> SetAuditWitnessesPayload:
        keys = await set_witnesses(principal=info.context.require_principal(), **vars(input))
        return SetAuditWitnessesPayload(witness_keys=keys)

    @strawberry.mutation(
        description="Add a witness's cosignature to a machine's checkpoint (`cashcc witness`)."
    )
    async def cosign_audit_checkpoint(
        self, info: Info, input: CosignAuditCheckpointInput
    ) -> CosignAuditCheckpointPayload:
        checkpoint = await cosign(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return CosignAuditCheckpointPayload(checkpoint=checkpoint)
