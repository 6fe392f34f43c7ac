"""Every place we change how Strawberry or graphql-core work inside, in one module.

Each item relies on an internal of the framework (a method it overrides, a hook's timing, an
attribute it sets); `tests/test_framework.py` checks each assumption, so an upgrade that breaks
one fails loudly there instead of quietly changing behaviour:

- `FastLeafListExecutionContext`: serializes lists of non-null scalars in one pass. Charts
  return long lists of numbers (`cashFlow` with 100 series x 91 days x 3 fields is 27,300
  values) and graphql-core completes every item on its own, about 2 us each: more than the
  query's database work. Anything unusual (a None item, a serializer that refuses a value)
  falls back to the general path, which reports the error exactly as before.
- `SharedLiveEventExecutor`, `shared_frame`, `LiveTransportWSHandler`: one execution and one
  encoding per live event and distinct query, however many local subscribers receive it
  (docs/live.md); the handler also refuses malformed graphql-transport-ws messages with 4400
  instead of dropping the connection.
- `SafeParserCache`, `DocumentValidation`: parse and validation errors reach the client with
  `extensions.code`, and documents over a limit never reach graphql-core's rules
  (graph/document_limits.py).
- `Schema`: errors are logged once by graph.errors, and every "Did you mean" is removed when
  suggestions are off.
- `build_input_with`: an input type whose coerced value is turned into a resolver value by a
  function of ours (ingest records: Strawberry's generic per-field conversion of thousands of
  nested inputs was the largest single cost of ingest, docs/performance.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import strawberry
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    OperationType,
)
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.arguments import InputContext

from auth.errors import PublicError
from graph.document_limits import DocumentLimits, check_document
from infra.live.envelope import Envelope

VALIDATION_CACHE_SIZE = 512
_cached_validate = lru_cache(maxsize=VALIDATION_CACHE_SIZE)(validate_document)
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class FastLeafListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_list_value(
        self,
        return_type: GraphQLList[Any],
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        item_type = return_type.of_type
        if (
            type(result) is list
            and isinstance(item_type, GraphQLNonNull)
            and isinstance(item_type.of_type, GraphQLScalarType)
            and not self.get_stream_usage(field_details_list, path)
        ):
            serialize = item_type.of_type.serialize
            try:
                values = [serialize(item) for item in result if item is not None]
            except Exception:
                values = None
            if values is not None and len(values) == len(result) and None not in values:
                return values
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )


# The graphql-transport-ws operation id of the running operation task (see the handler below).
OPERATION_ID: ContextVar[str | None] = ContextVar("live_operation_id", default=None)


def _key(operation: Any, variable_values: Any) -> tuple[Any, ...]:
    return ("result", id(operation), repr(getattr(variable_values, "coerced", variable_values)))


class SharedLiveEventExecutor(FastLeafListExecutionContext):
    """The execution context of the schema (see the module docstring)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        envelope = getattr(self.root_value, "envelope", None)
        if (
            not isinstance(envelope, Envelope)
            or self.operation.operation is not OperationType.SUBSCRIPTION
        ):
            return super().execute_operation(serially)
        key = _key(self.operation, self.variable_values)
        cached = envelope.memo.get(key)
        if cached is not None and cached[0] is self.operation:
            return cached[1]
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._remember(envelope, key, result)
        self._store(envelope, key, result)
        return result

    async def _remember(self, envelope: Envelope, key: Any, pending: Any) -> Any:
        result = await pending
        self._store(envelope, key, result)
        return result

    def _store(self, envelope: Envelope, key: Any, result: Any) -> None:
        # The operation is kept with the result so an id reused by another object never hits.
        if isinstance(result, ExecutionResult) and not result.errors:
            envelope.memo[key] = (self.operation, result)


def shared_frame(envelope: Envelope, operation: Any, variable_values: Any) -> str | None:
    """The complete `next` message for this event and query, if a subscriber in this process
    has already executed it, else None (the caller then goes through Strawberry)."""
    op_id = OPERATION_ID.get()
    if op_id is None:
        return None
    key = _key(operation, variable_values)
    cached = envelope.memo.get(key)
    if cached is None or cached[0] is not operation:
        return None
    encoded_key = ("encoded", *key[1:])
    encoded = envelope.memo.get(encoded_key)
    if encoded is None or encoded[0] is not operation:
        data = json.dumps(cached[1].data, separators=(",", ":"))
        encoded = envelope.memo[encoded_key] = (operation, data)
    return f'{{"id":{json.dumps(op_id)},"type":"next","payload":{{"data":{encoded[1]}}}}}'


def protocol_problem(message: object) -> str | None:
    """Why a graphql-transport-ws message is malformed, or None. Strawberry indexes messages
    without checking their shape, so a JSON list or a subscribe without a query string would
    raise inside the handler and drop the connection (1006) instead of closing it with 4400."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string `type`"
    if kind in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f"a {kind} message needs a string `id`"
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "a subscribe message needs a payload with a string `query`"
        if not isinstance(payload.get("variables"), dict | None):
            return "subscribe `variables` must be an object"
        if not isinstance(payload.get("operationName"), str | None):
            return "subscribe `operationName` must be a string"
    return None


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler):
    """Strawberry's graphql-transport-ws handler, refusing malformed messages with close code
    4400, and recording each operation's id for its task (for `shared_frame`)."""

    async def handle_message(self, message: Any) -> None:
        problem = protocol_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def run_operation(self, operation: Any) -> None:
        OPERATION_ID.set(operation.id)
        await super().run_operation(operation)


class SafeParserCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            try:
                context.graphql_document = self.cached_parse_document(
                    context.query, **context.parse_options
                )
            except GraphQLError:
                context.graphql_document = None
        yield


class DocumentValidation(SchemaExtension):
    def __init__(self, *, limits: DocumentLimits) -> None:
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        try:
            check_document(
                context.schema._schema,
                document,
                operation_name=context.operation_name,
                variables=context.variables,
                limits=self.limits,
            )
        except PublicError as exc:
            context.pre_execution_errors = [GraphQLError(exc.message, original_error=exc)]
        else:
            context.pre_execution_errors = _cached_validate(
                context.schema._schema, document, context.validation_rules
            )
        yield


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


def build_input_with(
    input_type: type, build: Callable[[type, Mapping[str, Any], InputContext], Any]
) -> None:
    """Make Strawberry hand resolvers `build(cls, coerced_value, context)` for `input_type`
    instead of an instance built field by field."""
    input_type.__strawberry_definition__.from_input = build  # type: ignore[attr-defined]


def decode_json(text: str | bytes) -> Any:
    """JSON of a WebSocket message; every way it can fail is a JSONDecodeError, which the
    transport handler answers with close code 4400 (a 5,000-digit number raised ValueError and
    a deep nesting RecursionError, which dropped the connection instead)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(f"unusable JSON: {type(exc).__name__}", "", 0) from exc
