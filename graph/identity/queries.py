"""Root Query fields of identity: the caller, API keys, users, the security log."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.identity.types import (
    ApiKeyType,
    SecurityEventConnection,
    SecurityLogVerificationType,
    UserType,
)
from resolvers.identity.api_keys import find_api_keys
from resolvers.identity.security_log import security_event_page, verify_security_log
from resolvers.identity.users import find_me, find_users


@strawberry.type
class IdentityQueries:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> UserType:
        return await find_me(principal=info.context.require_principal())

    @strawberry.field(description="API keys of the shops the caller may see; never secrets.")
    async def api_keys(
        self, info: Info, shop_ids: list[strawberry.ID] | None = None
    ) -> list[ApiKeyType]:
        return await find_api_keys(principal=info.context.require_principal(), shop_ids=shop_ids)

    @strawberry.field(description="Users of the organization.")
    async def users(self, info: Info) -> list[UserType]:
        return await find_users(principal=info.context.require_principal())

    @strawberry.field(description="The security audit log, newest first; `first` is 1 to 100.")
    async def security_events(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> SecurityEventConnection:
        return await security_event_page(
            principal=info.context.require_principal(), first=first, after=after
        )

    @strawberry.field(description="Check the security log's hash chain; names the first bad one.")
    async def verify_security_log(self, info: Info) -> SecurityLogVerificationType:
        return await verify_security_log(
            principal=info.context.require_principal(), settings=info.context.settings
        )
