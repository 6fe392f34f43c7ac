"""Identity queries: API keys, users and the security audit log (merged into `Query`)."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.types.identity import (
    ApiKeyType,
    SecurityEventConnection,
    SecurityLogVerificationType,
    UserType,
)
from resolvers.api_keys import find_api_keys
from resolvers.security_log import security_event_page, verify_security_log
from resolvers.users import find_users


@strawberry.type
class IdentityQueries:
    @strawberry.field(description="API keys of the shops the caller may see; never secrets.")
    async def api_keys(
        self, info: Info, shop_ids: list[strawberry.ID] | None = None
    ) -> list[ApiKeyType]:
        keys = await find_api_keys(principal=info.context.require_principal(), shop_ids=shop_ids)
        return [ApiKeyType.from_model(k) for k in keys]

    @strawberry.field(description="Users of the organization.")
    async def users(self, info: Info) -> list[UserType]:
        return [
            UserType.from_model(u)
            for u in await find_users(principal=info.context.require_principal())
        ]

    @strawberry.field(description="The security audit log, newest first; `first` is 1 to 100.")
    async def security_events(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> SecurityEventConnection:
        page = await security_event_page(
            principal=info.context.require_principal(), first=first, after=after
        )
        return SecurityEventConnection.from_page(page)

    @strawberry.field(description="Check the security log's hash chain; names the first bad one.")
    async def verify_security_log(self, info: Info) -> SecurityLogVerificationType:
        result = await verify_security_log(principal=info.context.require_principal())
        return SecurityLogVerificationType.from_result(result)
