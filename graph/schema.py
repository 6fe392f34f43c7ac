"""The schema: composes the domains' root fields, and wraps every one of them once.

Every root field (Query, Mutation, Subscription) is wrapped at build time with the one
authorization path (`Context.authorize`) and the text check; building fails when a field has
no entry in the permission table, or when a mutation does not return a `Payload`. A
ServiceError raised by a mutation becomes the `userErrors` of its payload here, and nowhere
else; raised by a query, it becomes an error with `extensions.code` (graph.errors).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    NoSchemaIntrospectionCustomRule,
    get_named_type,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema_converter import GraphQLCoreConverter

from auth.errors import PublicError
from auth.rbac import PERMISSIONS
from config import Settings
from graph.alerts.mutations import AlertMutations
from graph.alerts.queries import AlertQueries
from graph.analytics.queries import AnalyticsQueries
from graph.audit.mutations import AuditMutations
from graph.audit.queries import AuditQueries
from graph.common import Payload, read_field
from graph.document_limits import DocumentLimits
from graph.enums import RequestErrorCode, UserErrorCode
from graph.errors import ErrorPolicy
from graph.fleet.mutations import FleetMutations
from graph.fleet.queries import FleetQueries
from graph.framework import DocumentValidation, SafeParserCache, Schema, SharedLiveEventExecutor
from graph.health.mutations import HealthMutations
from graph.health.queries import HealthQueries
from graph.identity.mutations import IdentityMutations
from graph.identity.queries import IdentityQueries
from graph.input_text import check_text_arguments
from graph.ledger.mutations import LedgerMutations
from graph.ledger.queries import LedgerQueries
from graph.live.subscriptions import LiveSubscriptions
from graph.scalars import SCALAR_MAP
from graph.webhooks.mutations import WebhookMutations
from graph.webhooks.queries import WebhookQueries
from resolvers.errors import ServiceError

CACHE_SIZE = 512


@strawberry.type
class Query(
    IdentityQueries,
    FleetQueries,
    HealthQueries,
    AlertQueries,
    WebhookQueries,
    LedgerQueries,
    AnalyticsQueries,
    AuditQueries,
):
    pass


@strawberry.type
class Mutation(
    IdentityMutations,
    FleetMutations,
    HealthMutations,
    AlertMutations,
    WebhookMutations,
    LedgerMutations,
    AuditMutations,
):
    pass


@strawberry.type
class Subscription(LiveSubscriptions):
    pass


class UnprotectedOperation(RuntimeError):
    """A root field has no entry in the permission table, or a mutation has no payload."""


def root_operations(schema: strawberry.Schema) -> dict[str, GraphQLField]:
    """`"Query.shops" -> field` for every root field of the schema."""
    gql = schema._schema
    operations: dict[str, GraphQLField] = {}
    for root in (gql.query_type, gql.mutation_type, gql.subscription_type):
        if isinstance(root, GraphQLObjectType):
            for name, field in root.fields.items():
                operations[f"{root.name}.{name}"] = field
    return operations


def _payload_of(operation: str, field: GraphQLField) -> type[Payload]:
    named = get_named_type(field.type)
    definition = (named.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, Payload)):
        raise UnprotectedOperation(f"{operation} must return a graph.common.Payload")
    return origin


def _guard(
    operation: str, resolve: Callable[..., Any], payload: type[Payload] | None
) -> Callable[..., Any]:
    """`resolve` behind the authorization path and the text check; for a mutation, a
    ServiceError becomes its payload's userErrors."""

    async def guarded(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        await info.context.authorize(operation)
        check_text_arguments(operation, kwargs)
        try:
            result = resolve(source, info, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except ServiceError as error:
            if payload is None:
                raise
            return payload.failed(error)
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
                code=RequestErrorCode.BAD_REQUEST,
            )
        return resolve(source, info, **kwargs)

    return resolve_event


def protect(schema: strawberry.Schema) -> None:
    """Wrap every root field (see the module docstring); refuse unlisted fields.

    A subscription is authorized once, when it subscribes; its deliveries are re-checked by
    the stream itself (graph.live.subscriptions).
    """
    for operation, field in root_operations(schema).items():
        if operation not in PERMISSIONS:
            raise UnprotectedOperation(f"{operation} has no entry in auth.rbac.PERMISSIONS")
        if field.subscribe is not None:
            field.subscribe = _guard(operation, field.subscribe, None)
            if field.resolve is not None:
                field.resolve = _over_websocket_only(operation, field.resolve)
        elif field.resolve is not None:
            mutation = operation.startswith("Mutation.")
            payload = _payload_of(operation, field) if mutation else None
            field.resolve = _guard(operation, field.resolve, payload)


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
        # Every code a client can see is in a schema enum, referenced or not.
        types=[UserErrorCode, RequestErrorCode],
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            default_resolver=read_field,
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
