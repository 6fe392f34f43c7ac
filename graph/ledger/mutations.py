"""Root Mutation fields of the ledger: batch ingest."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ledger.inputs import IngestTransactionsInput
from graph.ledger.types import IngestTransactionsPayload
from resolvers.ledger.ingest.service import ingest_transactions


@strawberry.type
class LedgerMutations:
    @strawberry.mutation(
        description="Push a batch of a machine's transactions (API key). Safe to retry with "
        "the same idempotencyKey."
    )
    async def ingest_transactions(
        self, info: Info, input: IngestTransactionsInput
    ) -> IngestTransactionsPayload:
        result = await ingest_transactions(
            principal=info.context.require_principal(),
            machine_id=input.machine_id,
            idempotency_key=input.idempotency_key,
            records=list(input.transactions),  # RecordInput values: see inputs.record_input
            settings=info.context.settings,
        )
        return IngestTransactionsPayload.of(result)
