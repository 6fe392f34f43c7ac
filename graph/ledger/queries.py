"""Root Query fields of the ledger: history and chain verification."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ledger.inputs import TransactionFilterInput
from graph.ledger.types import ChainVerificationType, TransactionConnection
from resolvers.audit.log_check import verify_machine_chain
from resolvers.errors import not_found
from resolvers.ids import parse_object_id, parse_object_ids
from resolvers.ledger.history import TransactionFilter, transaction_page


@strawberry.type
class LedgerQueries:
    @strawberry.field(description="Transaction history, newest first; `first` is 1 to 100.")
    async def transactions(
        self,
        info: Info,
        filter: TransactionFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> TransactionConnection:
        f = filter or TransactionFilterInput()
        return await transaction_page(
            principal=info.context.require_principal(),
            filter=TransactionFilter(
                shop_ids=parse_object_ids(f.shop_ids),
                machine_ids=parse_object_ids(f.machine_ids),
                types=[t.value for t in f.types] if f.types else None,
                occurred_from=f.from_,
                occurred_to=f.to,
            ),
            first=first,
            after=after,
        )

    @strawberry.field(
        description="Check a machine's audit chain and its log against the signed checkpoints "
        "(from the last one before the retained records); names the first broken record."
    )
    async def verify_machine_chain(
        self, info: Info, machine_id: strawberry.ID
    ) -> ChainVerificationType:
        oid = parse_object_id(machine_id)
        if oid is None:
            raise not_found("machine")
        return await verify_machine_chain(
            scope=info.context.require_principal().scope,
            machine_id=oid,
            settings=info.context.settings,
        )
