"""Root Query fields: translate arguments, call resolvers, translate results."""

from __future__ import annotations

import strawberry

from auth.errors import NotFound
from graph.analytics_queries import AnalyticsQuery
from graph.context import Info
from graph.identity_queries import IdentityQueries
from graph.types.fleet import InventoryReportType, MachineType, OrganizationType, ShopType
from graph.types.identity import UserType
from graph.types.ledger import (
    ChainVerificationType,
    TransactionConnection,
    TransactionFilterInput,
)
from resolvers.audit_chain import verify_machine_chain
from resolvers.history import TransactionFilter, transaction_page
from resolvers.ids import parse_object_id, parse_object_ids
from resolvers.inventory import inventory_report
from resolvers.queries import find_machine, find_me, find_organization, find_shop, find_shops


@strawberry.type
class Query(IdentityQueries, AnalyticsQuery):
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> UserType:
        return UserType.from_model(await find_me(principal=info.context.require_principal()))

    @strawberry.field(description="The caller's organization.")
    async def organization(self, info: Info) -> OrganizationType:
        org = await find_organization(principal=info.context.require_principal())
        return OrganizationType.from_model(org)

    @strawberry.field(description="Shops the caller may see, by name.")
    async def shops(self, info: Info, ids: list[strawberry.ID] | None = None) -> list[ShopType]:
        shops = await find_shops(
            principal=info.context.require_principal(), shop_ids=parse_object_ids(ids)
        )
        return [ShopType.from_model(s) for s in shops]

    @strawberry.field
    async def shop(self, info: Info, id: strawberry.ID) -> ShopType | None:
        shop = await find_shop(principal=info.context.require_principal(), shop_id=id)
        return ShopType.from_model(shop) if shop else None

    @strawberry.field
    async def machine(self, info: Info, id: strawberry.ID) -> MachineType | None:
        machine = await find_machine(principal=info.context.require_principal(), machine_id=id)
        return MachineType.from_model(machine) if machine else None

    @strawberry.field(description="Live cash per machine and denomination, totals per currency.")
    async def inventory(
        self,
        info: Info,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
    ) -> InventoryReportType:
        report = await inventory_report(
            principal=info.context.require_principal(),
            shop_ids=parse_object_ids(shop_ids),
            machine_ids=parse_object_ids(machine_ids),
        )
        return InventoryReportType.from_report(report)

    @strawberry.field(description="Transaction history, newest first; `first` is 1 to 100.")
    async def transactions(
        self,
        info: Info,
        filter: TransactionFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> TransactionConnection:
        f = filter or TransactionFilterInput()
        page = await transaction_page(
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
        return TransactionConnection.from_page(page)

    @strawberry.field(description="Check a machine's audit chain; names the first broken link.")
    async def verify_machine_chain(
        self, info: Info, machine_id: strawberry.ID
    ) -> ChainVerificationType:
        oid = parse_object_id(machine_id)
        if oid is None:
            raise NotFound("machine not found")
        result = await verify_machine_chain(
            scope=info.context.require_principal().scope,
            machine_id=oid,
            retention_days=info.context.settings.retention_days,
        )
        return ChainVerificationType.from_result(result)
