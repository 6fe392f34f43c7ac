"""Inputs of the identity mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.enums import Role


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
    role: Role
    shop_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Required for SHOP_MANAGER and EMPLOYEE."
    )
    machine_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="EMPLOYEE only: limit to these machines of the shops."
    )
