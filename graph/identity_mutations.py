"""Identity mutations: sessions, API keys and user management (merged into `Mutation`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.types.common import user_errors
from graph.types.identity import (
    ApiKeyType,
    CreateApiKeyPayload,
    CreateUserPayload,
    LoginPayload,
    LogoutPayload,
    RevokeApiKeyPayload,
    RoleEnum,
    RotateApiKeyPayload,
    UserPayload,
    UserType,
)
from models.identity import User
from resolvers.api_keys import issue_api_key, revoke_api_key, rotate_api_key
from resolvers.errors import UserError
from resolvers.sessions import IssuedSession, login, logout, refresh_session
from resolvers.users import accept_invite, add_user, deactivate_user, set_user_role


@strawberry.input
class CreateApiKeyInput:
    name: str
    shop_id: strawberry.ID
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Limit the key to these machines of the shop."
    )
    expires_at: datetime | None = None


@strawberry.input
class CreateUserInput:
    email: str
    password: str | None = strawberry.field(
        default=None,
        description="Initial password (at least 10 characters); omit to invite the user.",
    )
    role: RoleEnum  # type: ignore[valid-type]
    shop_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Required for SHOP_MANAGER and EMPLOYEE."
    )
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="EMPLOYEE only: limit to these machines of the shops."
    )


def _session_payload(result: IssuedSession | UserError) -> LoginPayload:
    if isinstance(result, UserError):
        return LoginPayload(
            access_token=None,
            expires_at=None,
            refresh_token=None,
            refresh_expires_at=None,
            user=None,
            user_errors=user_errors([result]),
        )
    return LoginPayload(
        access_token=result.access_token,
        expires_at=result.expires_at,
        refresh_token=result.refresh_token,
        refresh_expires_at=result.refresh_expires_at,
        user=UserType.from_model(result.user),
        user_errors=[],
    )


def _user_payload(result: User | list[UserError]) -> UserPayload:
    if isinstance(result, list):
        return UserPayload(user=None, user_errors=user_errors(result))
    return UserPayload(user=UserType.from_model(result), user_errors=[])


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
        result = await login(
            email=email,
            password=password,
            organization_id=organization_id,
            client_address=ctx.client_address,
            settings=ctx.settings,
        )
        return _session_payload(result)

    @strawberry.mutation(
        description="Trade a refresh token (once) for a new access and refresh token. "
        "Reusing a traded token ends the whole session."
    )
    async def refresh_session(self, info: Info, refresh_token: str) -> LoginPayload:
        ctx = info.context
        result = await refresh_session(
            refresh_token=refresh_token, client_address=ctx.client_address, settings=ctx.settings
        )
        return _session_payload(result)

    @strawberry.mutation(description="End the session the refresh token belongs to.")
    async def logout(self, info: Info, refresh_token: str) -> LogoutPayload:
        ctx = info.context
        await logout(
            refresh_token=refresh_token, client_address=ctx.client_address, settings=ctx.settings
        )
        # Same answer for unknown tokens: logout is idempotent and reveals nothing.
        return LogoutPayload(ok=True, user_errors=[])

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

    @strawberry.mutation(
        description="A new secret for the key; the old one works for `overlapSeconds` more."
    )
    async def rotate_api_key(
        self, info: Info, id: strawberry.ID, overlap_seconds: int = 3600
    ) -> RotateApiKeyPayload:
        result = await rotate_api_key(
            principal=info.context.require_principal(),
            key_id=id,
            overlap_seconds=overlap_seconds,
            settings=info.context.settings,
        )
        if isinstance(result, list):
            return RotateApiKeyPayload(api_key=None, secret=None, user_errors=user_errors(result))
        return RotateApiKeyPayload(
            api_key=ApiKeyType.from_model(result.key), secret=result.secret, user_errors=[]
        )

    @strawberry.mutation(description="Revoke a key; it stops working at once on every worker.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        result = await revoke_api_key(principal=info.context.require_principal(), key_id=id)
        if isinstance(result, list):
            return RevokeApiKeyPayload(api_key=None, user_errors=user_errors(result))
        return RevokeApiKeyPayload(api_key=ApiKeyType.from_model(result), user_errors=[])

    @strawberry.mutation(
        description="Create a user of the organization, with a password or as an invitation."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        result = await add_user(
            principal=info.context.require_principal(),
            email=input.email,
            password=input.password,
            role=input.role,
            shop_ids=input.shop_ids,
            machine_ids=input.machine_ids,
            settings=info.context.settings,
        )
        if isinstance(result, list):
            return CreateUserPayload(user=None, invite_token=None, user_errors=user_errors(result))
        return CreateUserPayload(
            user=UserType.from_model(result.user),
            invite_token=result.invite_token,
            user_errors=[],
        )

    @strawberry.mutation(description="Set a password with a one-time invitation token.")
    async def accept_invite(self, info: Info, token: str, password: str) -> UserPayload:
        result = await accept_invite(token=token, password=password, settings=info.context.settings)
        return _user_payload(result)

    @strawberry.mutation(
        description="Set another user's role and shops (and machines for EMPLOYEE). "
        "Nobody can change their own access."
    )
    async def set_user_access(
        self,
        info: Info,
        id: strawberry.ID,
        role: RoleEnum,  # type: ignore[valid-type]
        shop_ids: list[strawberry.ID] | None = None,
        machine_ids: list[strawberry.ID] | None = None,
    ) -> UserPayload:
        result = await set_user_role(
            principal=info.context.require_principal(),
            user_id=id,
            role=role,
            shop_ids=shop_ids,
            machine_ids=machine_ids,
        )
        return _user_payload(result)

    @strawberry.mutation(description="Deactivate another user; their sessions end at once.")
    async def deactivate_user(self, info: Info, id: strawberry.ID) -> UserPayload:
        result = await deactivate_user(principal=info.context.require_principal(), user_id=id)
        return _user_payload(result)
