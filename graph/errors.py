"""Error policy: public errors keep their message and get a code; everything else is logged
with context and masked, so no stack trace or internal detail reaches a client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from auth.errors import PublicError, RequestErrorCode
from resolvers.errors import ServiceError, UserError

log = logging.getLogger("cashcc.graphql")
INTERNAL_MESSAGE = "Internal server error. Quote the requestId when reporting it."


def _request_id(context: Any) -> str | None:
    return getattr(context, "request_id", None)


def _is_input_error(error: GraphQLError, original: BaseException) -> bool:
    """Variable coercion (no path yet) and argument coercion during execution: graphql-core
    reports the latter as a located GraphQLError "Argument 'x' has invalid value ..." on the
    field's path, which must not be mistaken for a failure of the field itself."""
    if isinstance(original, GraphQLError | ValueError | TypeError) and error.path is None:
        return True
    return isinstance(original, GraphQLError) and original.message.startswith("Argument '")


def shape_error(
    error: GraphQLError, *, request_id: str | None, operation: str | None
) -> GraphQLError:
    """The client-facing version of `error`, with `extensions.code` and `requestId`."""
    original = error.original_error
    extensions: dict[str, Any] = {"requestId": request_id}
    # What the caller can act on: a service's first problem, or a request-level error.
    public = original.first if isinstance(original, ServiceError) else original
    if isinstance(public, UserError | PublicError):
        extensions["code"] = public.code.value
        extensions["retryable"] = public.retryable
        if getattr(public, "field", None) is not None:
            extensions["field"] = public.field  # type: ignore[union-attr]
        if public.retry_after is not None:
            extensions["retryAfter"] = public.retry_after
        message = public.message
    elif isinstance(error, GraphQLSyntaxError):
        extensions["code"] = RequestErrorCode.GRAPHQL_PARSE_FAILED.value
        message = error.message
    elif original is None:
        extensions["code"] = (error.extensions or {}).get(
            "code", RequestErrorCode.GRAPHQL_VALIDATION_FAILED.value
        )
        message = error.message
    elif _is_input_error(error, original):
        extensions["code"] = RequestErrorCode.BAD_USER_INPUT.value
        message = error.message
    else:
        log.error(
            "unhandled error in %s (request %s) at %s",
            operation,
            request_id,
            error.path,
            exc_info=original,
        )
        extensions["code"] = RequestErrorCode.INTERNAL_SERVER_ERROR.value
        message = INTERNAL_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorPolicy(SchemaExtension):
    """Applies `shape_error` to every error of every operation, including each result a
    subscription streams (those are sent before `on_operation` ends)."""

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._shape(result)
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        self._shape(self.execution_context.result)

    def _shape(self, result: Any) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        shaped: set[int] = self.__dict__.setdefault("_shaped", set())
        if id(result.errors) in shaped:
            return
        request_id = _request_id(self.execution_context.context)
        operation = self.execution_context.operation_name
        result.errors = [
            shape_error(e, request_id=request_id, operation=operation) for e in result.errors
        ]
        shaped.add(id(result.errors))
