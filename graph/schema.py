"""The schema: root types, security extensions, and the authorization wrapper.

Every root field (Query, Mutation, Subscription) is wrapped with `auth.rbac.authorize` at build
time; building fails when a field has no entry in the permission table.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig

from auth.errors import AuthenticationError
from auth.rbac import PERMISSIONS, authorize
from config import Settings
from graph.errors import ErrorPolicy
from graph.limits import QueryCostLimiter
from graph.live_execution import SharedLiveEventExecutor
from graph.mutations import Mutation
from graph.queries import Query
from graph.scalars import SCALAR_MAP
from graph.subscriptions import Subscription

CACHE_SIZE = 512


class UnprotectedOperation(RuntimeError):
    """A root field has no entry in the permission table."""


def root_operations(schema: strawberry.Schema) -> dict[str, GraphQLField]:
    """`"Query.shops" -> field` for every root field of the schema."""
    gql = schema._schema
    operations: dict[str, GraphQLField] = {}
    for root in (gql.query_type, gql.mutation_type, gql.subscription_type):
        if isinstance(root, GraphQLObjectType):
            for name, field in root.fields.items():
                operations[f"{root.name}.{name}"] = field
    return operations


def _guard(operation: str, resolve: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        principal = getattr(info.context, "principal", None)
        auth_error = getattr(info.context, "auth_error", None)
        if principal is None and auth_error is not None and not PERMISSIONS[operation].public:
            raise auth_error
        # A WebSocket context outlives its token: refuse operations once the token expired.
        expires_at = getattr(info.context, "auth_expires_at", None)
        if principal is not None and expires_at is not None and expires_at <= datetime.now(UTC):
            raise AuthenticationError("access token expired")
        authorize(principal, operation)
        result = resolve(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return guarded


def protect(schema: strawberry.Schema) -> None:
    """Wrap every root field with the permission check; refuse unlisted fields."""
    for operation, field in root_operations(schema).items():
        if operation not in PERMISSIONS:
            raise UnprotectedOperation(f"{operation} has no entry in auth.rbac.PERMISSIONS")
        if field.resolve is not None:
            field.resolve = _guard(operation, field.resolve)
        if field.subscribe is not None:
            field.subscribe = _guard(operation, field.subscribe)


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds a fresh extension per request.
    extensions: list[Any] = [
        ErrorPolicy,
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: QueryCostLimiter(max_cost=settings.max_query_cost),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    if settings.is_production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            batching_config={"max_operations": settings.max_batch_operations},
            # "Did you mean ...?" would reveal field names with introspection off.
            disable_field_suggestions=settings.is_production,
        ),
        execution_context_class=SharedLiveEventExecutor,
    )
    protect(schema)
    return schema


def export_sdl(settings: Settings | None = None) -> str:
    """The schema in SDL, as committed in `schema.graphql`."""
    return print_schema(build_schema(settings or Settings(app_env="test"))) + "\n"
