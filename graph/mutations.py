"""Root Mutation fields: translate inputs, call resolvers, translate results to payloads."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.identity_mutations import IdentityMutations
from graph.types.common import user_errors
from graph.types.fleet import MachineType, ShopType
from graph.types.fleet_inputs import (
    CreateShopInput,
    CreateShopPayload,
    RegisterMachineInput,
    RegisterMachinePayload,
)
from graph.types.ingest import IngestTransactionsInput, IngestTransactionsPayload
from models.currencies import slot_key
from models.machine import SlotLimits
from resolvers.ingest.service import ingest_transactions
from resolvers.metrics import record_ingest
from resolvers.shops import add_shop, register_machine


@strawberry.type
class Mutation(IdentityMutations):
    @strawberry.mutation
    async def create_shop(self, info: Info, input: CreateShopInput) -> CreateShopPayload:
        result = await add_shop(
            principal=info.context.require_principal(),
            name=input.name,
            code=input.code,
            timezone=input.timezone,
            currency=input.currency,
        )
        if isinstance(result, list):
            return CreateShopPayload(shop=None, user_errors=user_errors(result))
        return CreateShopPayload(shop=ShopType.from_model(result), user_errors=[])

    @strawberry.mutation
    async def register_machine(
        self, info: Info, input: RegisterMachineInput
    ) -> RegisterMachinePayload:
        limits = None
        if input.limits is not None:
            limits = {
                slot_key(lim.kind, lim.denomination): SlotLimits.model_construct(
                    capacity=lim.capacity, near_empty=lim.near_empty, near_full=lim.near_full
                )
                for lim in input.limits
            }
        result = await register_machine(
            principal=info.context.require_principal(),
            shop_id=input.shop_id,
            serial=input.serial,
            model=input.model,
            currency=input.currency,
            name=input.name,
            first_seq=input.first_seq,
            limits=limits,
        )
        if isinstance(result, list):
            return RegisterMachinePayload(machine=None, user_errors=user_errors(result))
        return RegisterMachinePayload(machine=MachineType.from_model(result), user_errors=[])

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
            # Already RecordInput values: see graph.types.ingest._record_from_input.
            records=list(input.transactions),  # type: ignore[arg-type]
            settings=info.context.settings,
        )
        record_ingest(result)
        return IngestTransactionsPayload.from_result(result)
