"""Lists of scalars take the execution fast path without changing what clients receive."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from graph.framework import FastLeafListExecutionContext
from graph.scalars import SCALAR_MAP, Long


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
