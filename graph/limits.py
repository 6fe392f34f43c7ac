"""Request limits beyond depth/alias/token: query cost from page sizes, request body size,
and the per-operation timeout error.

Cost model (like GitHub's node limit): every field costs 1 per time it can be resolved. A
field with a `first` argument multiplies its children by that page size (the argument's
default when not given); any other list field multiplies by `LIST_ESTIMATE`. So
`transactions(first: 100) { edges { node { lines { count } } } }` costs about
100 * (1 + LIST_ESTIMATE) and deep fan-outs (`shops { machines { shop { machines ... } } }`)
grow geometrically and are refused before any resolver runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_list_type,
    is_non_null_type,
    value_from_ast,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from auth.errors import PublicError

LIST_ESTIMATE = 10
PAGE_ARGUMENT = "first"


class QueryTooExpensive(PublicError):
    code = "QUERY_TOO_EXPENSIVE"


class OperationTimeout(PublicError):
    code = "TIMEOUT"


def _is_list(field_type: Any) -> bool:
    return is_list_type(field_type.of_type if is_non_null_type(field_type) else field_type)


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        limit: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limit = limit

    def selection_cost(
        self, parent: Any, selection_set: SelectionSetNode, mult: int, *, paged: bool = False
    ) -> int:
        """`paged`: the parent field already multiplied by its page size, so its direct
        list children (`edges`, `events`) hold that page and do not multiply again."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection, mult, paged=paged)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(target, selection.selection_set, mult, paged=paged)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selection_cost(target, fragment.selection_set, mult, paged=paged)
            if total > self.limit:
                return total  # stop early: already over
        return total

    def field_cost(self, parent: Any, node: FieldNode, mult: int, *, paged: bool) -> int:
        fields = getattr(parent, "fields", None)
        definition = fields.get(node.name.value) if fields else None
        if definition is None:  # __typename and introspection fields
            return mult
        size = 1
        page = definition.args.get(PAGE_ARGUMENT)
        if page is not None:
            size = page.default_value if isinstance(page.default_value, int) else LIST_ESTIMATE
            for argument in node.arguments or ():
                if argument.name.value == PAGE_ARGUMENT:
                    value = value_from_ast(argument.value, page.type, self.variables)
                    size = value if isinstance(value, int) else size
        elif _is_list(definition.type) and not paged:
            size = LIST_ESTIMATE
        cost = mult
        if node.selection_set is not None:
            child = get_named_type(definition.type)
            cost += self.selection_cost(
                child, node.selection_set, mult * max(size, 1), paged=page is not None
            )
        return cost


def operation_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    *,
    limit: int,
) -> int:
    """The estimated cost of the operation to run (see the module docstring)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _CostWalker(schema, fragments, variables or {}, limit)
    total = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        root: GraphQLObjectType | None = schema.get_root_type(definition.operation)
        total += walker.selection_cost(root, definition.selection_set, 1)
    return total


class QueryCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose estimated cost is over `max_cost`."""

    def __init__(self, *, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None:
            cost = operation_cost(
                ctx.schema._schema,
                ctx.graphql_document,
                ctx.operation_name,
                ctx.variables,
                limit=self.max_cost,
            )
            if cost > self.max_cost:
                error = QueryTooExpensive(
                    f"query cost exceeds the limit of {self.max_cost}: request smaller pages "
                    "or fewer nested lists"
                )
                ctx.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(error.message, original_error=error)]
                )
        yield


class BodySizeLimit:
    """ASGI middleware: refuse HTTP request bodies over `max_bytes` with 413.

    Checks the declared Content-Length first, and counts the bytes actually received (a
    chunked body has no declared length), so nothing larger is ever buffered.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._refuse(send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"errors":[{"message":"request body too large",'
            b'"extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
