"""Schema extensions that bound the work of parsing and validating a document.

- `SafeParserCache`: Strawberry's ParserCache parses inside its hook, so a syntax error (or
  the token limit) escaped the operation and reached the client without `extensions.code` or
  `requestId`. This one leaves a failing document unparsed; Strawberry then parses it again
  in its own error handling, which returns the error through the normal result path.
- `DocumentValidation`: runs `graph.document_limits.check_document` (linear in the document)
  and only then graphql-core's validation rules (LRU-cached per document, like Strawberry's
  ValidationCache, which it replaces), so no rule ever expands an oversized document.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from auth.errors import PublicError
from graph.document_limits import DocumentLimits, check_document

VALIDATION_CACHE_SIZE = 512
_cached_validate = lru_cache(maxsize=VALIDATION_CACHE_SIZE)(validate_document)


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
