"""Inputs of the audit mutations."""

from __future__ import annotations

import strawberry

from graph.scalars import Long


@strawberry.input
class SetAuditWitnessesInput:
    verifier_keys: list[str] = strawberry.field(
        description="The witnesses' cosignature/v1 verifier keys (at most 10); empty: none."
    )


@strawberry.input
class CosignAuditCheckpointInput:
    machine_id: strawberry.ID
    size: Long
    cosignature: str = strawberry.field(
        description="One signature line (`— <name> <base64>`) by a registered witness."
    )
