"""The assumptions graph/framework.py makes about Strawberry's and graphql-core's insides.

Each test names what an upgrade must keep; when one fails after an upgrade, the matching
item of graph/framework.py needs another look before anything else.
"""

from __future__ import annotations

import inspect
import json

import pytest
import strawberry
import strawberry.asgi as strawberry_asgi
import strawberry.schema.schema as strawberry_schema
import strawberry.types.arguments as strawberry_arguments
from strawberry.extensions import ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as Executor
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from graph.framework import FastLeafListExecutionContext, SharedLiveEventExecutor, decode_json
from graph.ledger.inputs import TransactionInput, record_input
from graph.scalars import SCALAR_MAP, Long
from tests.factories import Factory, gql


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_overridden_methods_still_exist_with_the_same_parameters() -> None:
    assert parameters(Executor.complete_list_value) == [
        "self",
        "return_type",
        "field_details_list",
        "info",
        "path",
        "result",
        "position_context",
    ]
    assert parameters(Executor.execute_operation)[:2] == ["self", "serially"]
    assert parameters(BaseGraphQLTransportWSHandler.handle_message) == ["self", "message"]
    assert parameters(BaseGraphQLTransportWSHandler.run_operation) == ["self", "operation"]
    assert issubclass(SharedLiveEventExecutor, FastLeafListExecutionContext)


def test_strawberry_parses_again_when_the_parser_cache_left_no_document() -> None:
    """SafeParserCache leaves a failing document unparsed so that Strawberry's own parse
    (inside its error handling) reports it."""
    source = inspect.getsource(strawberry_schema._parse_operation_document)
    assert "graphql_document is not None" in source
    assert "cached_parse_document" in inspect.getsource(ParserCache)


def test_validation_is_skipped_when_an_extension_already_set_its_errors() -> None:
    """DocumentValidation sets `pre_execution_errors` itself; Strawberry must not validate
    again (that is where graphql-core's rules would expand fragments)."""
    source = inspect.getsource(strawberry_schema._run_validation)
    assert "pre_execution_errors is None" in source


def test_inputs_are_built_by_the_function_we_install() -> None:
    assert TransactionInput.__strawberry_definition__.from_input is record_input
    assert "from_input" in inspect.getsource(strawberry_arguments.convert_argument)


@pytest.mark.parametrize("unusable", ["1" * 5000, "[" * 100_000])
def test_websocket_json_is_decoded_by_the_view_method_we_override(unusable: str) -> None:
    """Only a JSONDecodeError makes the handler close with 4400; anything else dropped the
    connection."""
    assert "self.view.decode_json(" in inspect.getsource(strawberry_asgi.ASGIWebSocketAdapter)
    with pytest.raises(json.JSONDecodeError):
        decode_json(unusable)


async def test_a_syntax_error_reaches_the_client_with_a_code(factory: Factory) -> None:
    body = await gql(factory.client, "{ shops {")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@strawberry.type
class Query:
    @strawberry.field
    def longs(self) -> list[Long]:
        return [Long(1), Long(-5), Long(2**60)]

    @strawberry.field
    def counts_with_hole(self) -> list[int]:
        return [1, None, 3]  # type: ignore[list-item]  # a resolver bug, reported as such

    @strawberry.field
    def maybe(self) -> list[int | None]:
        return [1, None]

    @strawberry.field
    def too_big(self) -> list[int]:
        return [1, 2**40]


SCHEMA = strawberry.Schema(
    query=Query,
    config=StrawberryConfig(scalar_map=SCALAR_MAP),
    execution_context_class=FastLeafListExecutionContext,
)


async def test_scalar_lists_are_serialized_item_by_item() -> None:
    result = await SCHEMA.execute("{ longs maybe }")
    assert result.errors is None
    assert result.data == {"longs": [1, -5, str(2**60)], "maybe": [1, None]}


async def test_bad_items_still_fail_with_their_path() -> None:
    result = await SCHEMA.execute("{ countsWithHole }")
    assert result.errors is not None
    assert result.errors[0].path == ["countsWithHole", 1]
    result = await SCHEMA.execute("{ tooBig }")
    assert result.errors is not None
    assert result.errors[0].path == ["tooBig", 1]
    assert "Int cannot represent non 32-bit signed integer" in result.errors[0].message
