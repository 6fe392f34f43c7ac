"""The schema: root types, security extensions, and the authorization wrapper.

Every root field (Query, Mutation, Subscription) is wrapped with `auth.rbac.authorize` at build
time; building fails when a field has no entry in the permission table.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig

from auth.errors import PublicError
from auth.rbac import PERMISSIONS
from config import Settings
from graph.document_limits import DocumentLimits
from graph.errors import ErrorPolicy
from graph.extensions import DocumentValidation, SafeParserCache
from graph.input_text import check_text_arguments
from graph.live_execution import SharedLiveEventExecutor
from graph.mutations import Mutation
from graph.queries import Query
from graph.scalars import SCALAR_MAP
from graph.subscriptions import Subscription

CACHE_SIZE = 512
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class Schema(strawberry.Schema):
    """Strawberry's schema with our error reporting.

    Errors are logged once, with the request id, by `graph.errors.ErrorPolicy` (unexpected
    ones only: a client's mistake is not a server problem). With suggestions disabled
    (production), every "Did you mean ...?" is removed, not only field suggestions: argument,
    enum value, input field and type names would reveal the schema with introspection off.
    """

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        error.message = _SUGGESTION.sub("", error.message)


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
    """`resolve` behind the one authorization path (`Context.authorize`) and the text check."""

    async def guarded(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        await info.context.authorize(operation)
        check_text_arguments(operation, kwargs)
        result = resolve(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return guarded


def _over_websocket_only(operation: str, resolve: Callable[..., Any]) -> Callable[..., Any]:
    """A subscription's per-event resolver: graphql-core would also run it for a subscription
    POSTed over HTTP, where it has no stream to read."""

    def resolve_event(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        if not info.context.is_websocket:
            raise PublicError(
                f"{operation.split('.', 1)[1]} is a subscription: open a WebSocket to "
                "/graphql (graphql-transport-ws)",
                code="BAD_REQUEST",
            )
        return resolve(source, info, **kwargs)

    return resolve_event


def protect(schema: strawberry.Schema) -> None:
    """Wrap every root field with the permission check; refuse unlisted fields.

    A subscription is authorized once, when it subscribes; its deliveries are re-checked by
    the stream itself (graph.subscriptions).
    """
    for operation, field in root_operations(schema).items():
        if operation not in PERMISSIONS:
            raise UnprotectedOperation(f"{operation} has no entry in auth.rbac.PERMISSIONS")
        if field.subscribe is not None:
            field.subscribe = _guard(operation, field.subscribe)
            if field.resolve is not None:
                field.resolve = _over_websocket_only(operation, field.resolve)
        elif field.resolve is not None:
            field.resolve = _guard(operation, field.resolve)


def document_limits(settings: Settings) -> DocumentLimits:
    return DocumentLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_fragment_spreads=settings.max_fragment_spreads,
        max_fields=settings.max_document_fields,
        max_repeats=settings.max_field_repeats,
        max_cost=settings.max_query_cost,
    )


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = document_limits(settings)
    # Factories, not instances: Strawberry builds a fresh extension per request. Rules are
    # added before DocumentValidation runs them.
    extensions: list[Any] = [ErrorPolicy]
    if settings.is_production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    extensions += [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: SafeParserCache(maxsize=CACHE_SIZE),
        lambda: DocumentValidation(limits=limits),
    ]
    schema = Schema(
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
