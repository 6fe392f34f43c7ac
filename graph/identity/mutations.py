"""Root Mutation fields of identity: sessions, API keys, user management."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.enums import Role
from graph.identity.inputs import CreateApiKeyInput, CreateUserInput
from graph.identity.types import (
    CreateApiKeyPayload,
    CreateUserPayload,
    LoginPayload,
    LogoutPayload,
    RevokeApiKeyPayload,
    RotateApiKeyPayload,
    UserPayload,
)
from resolvers.identity.api_keys import issue_api_key, revoke_api_key, rotate_api_key
from resolvers.identity.sessions import login, logout, refresh_session
from resolvers.identity.users import accept_invite, add_user, deactivate_user, set_user_access


@strawberry.type
class IdentityMutations:
    @strawberry.mutation(
        description="Exchange e-mail and password for an access token and a refresh token. "
        "`organizationId` is needed only when the same e-mail and password open accounts in "
        "several organizations (ORGANIZATION_REQUIRED)."
    )
    async def login(
        self,
        info: Info,
        email: str,
        password: str,
        organization_id: strawberry.ID | None = None,
    ) -> LoginPayload:
        ctx = info.context
        session = await login(
            email=email,
            password=password,
            organization_id=organization_id,
            client_address=ctx.client_address,
            settings=ctx.settings,
        )
        return LoginPayload.of(session)

    @strawberry.mutation(
        description="Trade a refresh token (once) for a new access and refresh token. "
        "Reusing a traded token ends the whole session."
    )
    async def refresh_session(self, info: Info, refresh_token: str) -> LoginPayload:
        ctx = info.context
        session = await refresh_session(
            refresh_token=refresh_token, client_address=ctx.client_address, settings=ctx.settings
        )
        return LoginPayload.of(session)

    @strawberry.mutation(description="End the session the refresh token belongs to.")
    async def logout(self, info: Info, refresh_token: str) -> LogoutPayload:
        ctx = info.context
        await logout(
            refresh_token=refresh_token, client_address=ctx.client_address, settings=ctx.settings
        )
        # Same answer for unknown tokens: logout is idempotent and reveals nothing.
        return LogoutPayload(ok=True)

    @strawberry.mutation(description="Issue a key for a shop's local system; secret shown once.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        issued = await issue_api_key(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return CreateApiKeyPayload.of(issued)

    @strawberry.mutation(
        description="A new secret for the key; the old one works for `overlapSeconds` more."
    )
    async def rotate_api_key(
        self, info: Info, id: strawberry.ID, overlap_seconds: int = 3600
    ) -> RotateApiKeyPayload:
        issued = await rotate_api_key(
            principal=info.context.require_principal(),
            key_id=id,
            overlap_seconds=overlap_seconds,
            settings=info.context.settings,
        )
        return RotateApiKeyPayload.of(issued)

    @strawberry.mutation(description="Revoke a key; it stops working at once on every worker.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        key = await revoke_api_key(principal=info.context.require_principal(), key_id=id)
        return RevokeApiKeyPayload(api_key=key)

    @strawberry.mutation(
        description="Create a user of the organization, with a password or as an invitation."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        created = await add_user(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return CreateUserPayload.of(created)

    @strawberry.mutation(description="Set a password with a one-time invitation token.")
    async def accept_invite(self, info: Info, token: str, password: str) -> UserPayload:
        user = await accept_invite(token=token, password=password, settings=info.context.settings)
        return UserPayload(user=user)

    @strawberry.mutation(
        description="Set another user's role and shops (and machines for EMPLOYEE). "
        "Nobody can change their own access."
    )
    async def set_user_access(
        self,
        info: Info,
        id: strawberry.ID,
        role: Role,
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
    ) -> UserPayload:
        user = await set_user_access(
            principal=info.context.require_principal(),
            user_id=id,
            role=role,
            shop_ids=shop_ids,
            machine_ids=machine_ids,
        )
        return UserPayload(user=user)

    @strawberry.mutation(description="Deactivate another user; their sessions end at once.")
    async def deactivate_user(self, info: Info, id: strawberry.ID) -> UserPayload:
        user = await deactivate_user(principal=info.context.require_principal(), user_id=id)
        return UserPayload(user=user)
