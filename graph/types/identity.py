"""Users, sessions and API keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.types.common import UserErrorType
from models.identity import ApiKey, Role, User

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    role: RoleEnum  # type: ignore[valid-type]
    shop_ids: list[strawberry.ID]
    active: bool

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            role=user.role,
            shop_ids=[strawberry.ID(str(s)) for s in user.shop_ids],
            active=user.active,
        )


@strawberry.type
class LoginPayload:
    access_token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None
    user: UserType | None
    user_errors: list[UserErrorType]


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The non-secret start of the key.")
    shop_id: strawberry.ID
    machine_ids: list[strawberry.ID] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, key: ApiKey) -> ApiKeyType:
        return cls(
            id=strawberry.ID(str(key.id)),
            name=key.name,
            prefix=key.prefix,
            shop_id=strawberry.ID(str(key.shop_id)),
            machine_ids=None
            if key.machine_ids is None
            else [strawberry.ID(str(m)) for m in key.machine_ids],
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKeyType | None
    secret: str | None = strawberry.field(
        description="The full key, shown only in this response. Send as `X-API-Key`."
    )
    user_errors: list[UserErrorType]


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKeyType | None
    user_errors: list[UserErrorType]
