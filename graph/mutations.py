"""Root Mutation fields: translate inputs, call resolvers, translate results to payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.types.common import user_errors
from graph.types.fleet import MachineType, ShopType
from graph.types.fleet_inputs import (
    CreateShopInput,
    CreateShopPayload,
    RegisterMachineInput,
    RegisterMachinePayload,
)
from graph.types.identity import (
    ApiKeyType,
    CreateApiKeyPayload,
    LoginPayload,
    RevokeApiKeyPayload,
    UserType,
)
from graph.types.ingest import IngestTransactionsInput, IngestTransactionsPayload
from models.currencies import slot_key
from models.machine import SlotLimits
from resolvers.api_keys import issue_api_key, revoke_api_key
from resolvers.errors import UserError
from resolvers.identity import login
from resolvers.ingest.service import ingest_transactions
from resolvers.shops import add_shop, register_machine


@strawberry.input
class CreateApiKeyInput:
    name: str
    shop_id: strawberry.ID
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Limit the key to these machines of the shop."
    )
    expires_at: datetime | None = None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Exchange e-mail and password for a short-lived token.")
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        result = await login(email=email, password=password, settings=info.context.settings)
        if isinstance(result, UserError):
            return LoginPayload(
                access_token=None, expires_at=None, user=None, user_errors=user_errors([result])
            )
        return LoginPayload(
            access_token=result.access_token,
            expires_at=result.expires_at,
            user=UserType.from_model(result.user),
            user_errors=[],
        )

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

    @strawberry.mutation(description="Issue a key for a shop's local system; secret shown once.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        result = await issue_api_key(
            principal=info.context.require_principal(),
            name=input.name,
            shop_id=input.shop_id,
            machine_ids=input.machine_ids,
            expires_at=input.expires_at,
            settings=info.context.settings,
        )
        if isinstance(result, list):
            return CreateApiKeyPayload(api_key=None, secret=None, user_errors=user_errors(result))
        return CreateApiKeyPayload(
            api_key=ApiKeyType.from_model(result.key), secret=result.secret, user_errors=[]
        )

    @strawberry.mutation(description="Revoke a key; it stops working at once.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        result = await revoke_api_key(principal=info.context.require_principal(), key_id=id)
        if isinstance(result, list):
            return RevokeApiKeyPayload(api_key=None, user_errors=user_errors(result))
        return RevokeApiKeyPayload(api_key=ApiKeyType.from_model(result), user_errors=[])

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
        return IngestTransactionsPayload.from_result(result)
