"""Users, sessions and API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from graph.types.common import PageInfo, UserErrorType
from models.identity import ApiKey, Role, User
from resolvers.api_keys import ApiKeyStatus, key_status
from resolvers.security_log import SecurityAction, SecurityEventPage, SecurityLogVerification

RoleEnum = strawberry.enum(Role, name="Role")
ApiKeyStatusEnum = strawberry.enum(ApiKeyStatus, name="ApiKeyStatus")
SecurityActionEnum = strawberry.enum(SecurityAction, name="SecurityAction")


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    role: RoleEnum  # type: ignore[valid-type]
    shop_ids: list[strawberry.ID]
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        description="EMPLOYEE only: the machines of the assigned shops the user may see."
    )
    active: bool
    created_at: datetime

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            role=user.role,
            shop_ids=[strawberry.ID(str(s)) for s in user.shop_ids],
            machine_ids=None
            if user.machine_ids is None
            else [strawberry.ID(str(m)) for m in user.machine_ids],
            active=user.active,
            created_at=user.created_at,
        )


@strawberry.type
class LoginPayload:
    access_token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None
    refresh_token: str | None = strawberry.field(
        description="Opaque; trade it once for a new pair with `refreshSession`."
    )
    refresh_expires_at: datetime | None
    user: UserType | None
    user_errors: list[UserErrorType]


@strawberry.type
class LogoutPayload:
    ok: bool
    user_errors: list[UserErrorType]


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
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="While ROTATING: when the previous secret stops working."
    )
    expires_at: datetime | None
    revoked_at: datetime | None
    status: ApiKeyStatusEnum  # type: ignore[valid-type]

    @classmethod
    def from_model(cls, key: ApiKey) -> ApiKeyType:
        status = key_status(key, now=datetime.now(UTC))
        return cls(
            id=strawberry.ID(str(key.id)),
            name=key.name,
            prefix=key.prefix,
            shop_id=strawberry.ID(str(key.shop_id)),
            machine_ids=None
            if key.machine_ids is None
            else [strawberry.ID(str(m)) for m in key.machine_ids],
            created_by=None if key.created_by is None else strawberry.ID(str(key.created_by)),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            rotated_at=key.rotated_at,
            previous_secret_valid_until=key.previous_valid_until
            if status is ApiKeyStatus.ROTATING
            else None,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            status=status,
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


@strawberry.type
class RotateApiKeyPayload:
    api_key: ApiKeyType | None
    secret: str | None = strawberry.field(
        description="The new full key, shown only in this response."
    )
    user_errors: list[UserErrorType]


@strawberry.type
class UserPayload:
    user: UserType | None
    user_errors: list[UserErrorType]


@strawberry.type
class CreateUserPayload:
    user: UserType | None
    invite_token: str | None = strawberry.field(
        description="When no password was given: the one-time token for `acceptInvite`, "
        "shown only in this response."
    )
    user_errors: list[UserErrorType]


@strawberry.type(name="SecurityEvent")
class SecurityEventType:
    position: int
    action: SecurityActionEnum  # type: ignore[valid-type]
    at: datetime
    actor_kind: str | None
    actor_id: str | None
    target_kind: str | None
    target_id: str | None
    client_address: str | None
    details: list[str] = strawberry.field(description="`name=value` pairs, sorted by name.")
    prev_hash: str
    hash: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SecurityEventType:
        return cls(
            position=doc["position"],
            action=SecurityAction(doc["action"]),
            at=doc["at"],
            actor_kind=doc.get("actor_kind"),
            actor_id=doc.get("actor_id"),
            target_kind=doc.get("target_kind"),
            target_id=doc.get("target_id"),
            client_address=doc.get("client_address"),
            details=[f"{k}={v}" for k, v in sorted((doc.get("details") or {}).items())],
            prev_hash=doc["prev_hash"],
            hash=doc["hash"],
        )


@strawberry.type
class SecurityEventConnection:
    events: list[SecurityEventType]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: SecurityEventPage) -> SecurityEventConnection:
        return cls(
            events=[SecurityEventType.from_doc(d) for d in page.events],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.type(name="SecurityLogVerification")
class SecurityLogVerificationType:
    ok: bool
    checked: int
    head_position: int
    broken_position: int | None
    reason: str | None

    @classmethod
    def from_result(cls, result: SecurityLogVerification) -> SecurityLogVerificationType:
        return cls(
            ok=result.ok,
            checked=result.checked,
            head_position=result.head_position,
            broken_position=result.broken_position,
            reason=result.reason,
        )
