"""Users, sessions, API keys and security events; each reads its source by field name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from graph.common import Connection, Payload
from graph.enums import ApiKeyStatus, Role, SecurityAction
from models.identity import ApiKey
from resolvers.identity.api_keys import key_status


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    role: Role
    shop_ids: list[strawberry.ID]
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        description="EMPLOYEE only: the machines of the assigned shops the user may see."
    )
    active: bool
    created_at: datetime


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The non-secret start of the key.")
    shop_id: strawberry.ID
    machine_ids: list[strawberry.ID] | None
    created_by: strawberry.ID | None
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="Recorded to the minute (not every request writes)."
    )
    rotated_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @strawberry.field
    def status(self, root: strawberry.Parent[ApiKey]) -> ApiKeyStatus:
        return key_status(root, now=datetime.now(UTC))

    @strawberry.field(description="While ROTATING: when the previous secret stops working.")
    def previous_secret_valid_until(self, root: strawberry.Parent[ApiKey]) -> datetime | None:
        rotating = key_status(root, now=datetime.now(UTC)) is ApiKeyStatus.ROTATING
        return root.previous_valid_until if rotating else None


@strawberry.type(name="SecurityEvent")
class SecurityEventNode:
    position: int
    action: SecurityAction
    at: datetime
    actor_kind: str | None
    actor_id: str | None
    target_kind: str | None
    target_id: str | None
    client_address: str | None
    prev_hash: str
    hash: str

    @strawberry.field(description="`name=value` pairs, sorted by name.")
    def details(self, root: strawberry.Parent[dict[str, Any]]) -> list[str]:
        return [f"{k}={v}" for k, v in sorted((root.get("details") or {}).items())]


SecurityEventConnection = Connection[SecurityEventNode]


@strawberry.type(name="SecurityLogVerification")
class SecurityLogVerificationType:
    ok: bool
    checked: int
    head_position: int
    broken_position: int | None
    reason: str | None
    checkpoint_size: int | None = strawberry.field(
        description="The newest signed checkpoint the events were checked against."
    )
    checkpoints_checked: int


@strawberry.type
class LoginPayload(Payload):
    access_token: str | None = strawberry.field(
        default=None, description="Send as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None = None
    refresh_token: str | None = strawberry.field(
        default=None, description="Opaque; trade it once for a new pair with `refreshSession`."
    )
    refresh_expires_at: datetime | None = None
    user: UserType | None = None


@strawberry.type
class LogoutPayload(Payload):
    ok: bool = False


@strawberry.type
class CreateApiKeyPayload(Payload):
    api_key: ApiKeyType | None = None
    secret: str | None = strawberry.field(
        default=None, description="The full key, shown only in this response. Send as `X-API-Key`."
    )


@strawberry.type
class RevokeApiKeyPayload(Payload):
    api_key: ApiKeyType | None = None


@strawberry.type
class RotateApiKeyPayload(Payload):
    api_key: ApiKeyType | None = None
    secret: str | None = strawberry.field(
        default=None, description="The new full key, shown only in this response."
    )


@strawberry.type
class UserPayload(Payload):
    user: UserType | None = None


@strawberry.type
class CreateUserPayload(Payload):
    user: UserType | None = None
    invite_token: str | None = strawberry.field(
        default=None,
        description="When no password was given: the one-time token for `acceptInvite`, "
        "shown only in this response.",
    )
