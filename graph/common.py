"""What every domain's GraphQL types share: how a type reads its source, user errors, mutation
payloads, pages.

**Types are bound to their sources by field name.** A resolver returns the record itself (a
Beanie document, a dataclass, or a stored document as a mapping) and Strawberry reads each
field from it with `read_field`: the attribute, or the key of a mapping, of the field's Python
name (a mapping's `id` is its `_id`). A type declares a resolver method only for what the
source does not hold under the field's name, and reads the source through `strawberry.Parent`.
So there are no converters that copy a record into a GraphQL object field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

import strawberry

from graph.enums import UserErrorCode
from resolvers.errors import ServiceError
from resolvers.updates import UNCHANGED


def read_field(source: Any, name: str) -> Any:
    """The schema's default resolver (see the module docstring)."""
    if isinstance(source, Mapping):
        if name in source:
            return source[name]
        return source.get("_id") if name == "id" else None
    return getattr(source, name, None)


def given(value: Any, convert: Callable[[Any], Any] | None = None, *, null: Any = None) -> Any:
    """A field of a partial update's input as its service takes it: UNCHANGED when the caller
    left it out; `null` when the caller sent null (None: clear it; UNCHANGED for a field that
    cannot be cleared); else the value, through `convert` when given."""
    if value is strawberry.UNSET:
        return UNCHANGED
    if value is None:
        return null
    return convert(value) if convert is not None else value


@strawberry.type(name="UserError", description="A problem the caller can fix, as data.")
class UserErrorType:
    field: str | None = strawberry.field(description="Input path, e.g. `input.machineId`.")
    code: UserErrorCode  # type: ignore[valid-type]
    message: str
    retryable: bool = strawberry.field(
        description="True when the same request may succeed if retried later."
    )


@strawberry.type
class Payload:
    """Base of every mutation's payload: the result's fields (each with a default, so a failed
    call leaves them empty) and `userErrors`. `graph.schema` answers a ServiceError raised by a
    mutation with `failed` of its payload type: the one place errors become data."""

    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)

    @classmethod
    def failed(cls, error: ServiceError) -> Self:
        return cls(user_errors=list(error.errors))  # type: ignore[arg-type]

    @classmethod
    def of(cls, result: Any) -> Self:
        """A successful payload whose fields are read from `result` by name."""
        fields = cls.__strawberry_definition__.fields  # type: ignore[attr-defined]
        names = [f.python_name for f in fields if f.python_name != "user_errors"]
        return cls(**{name: read_field(result, name) for name in names})


@strawberry.type(description="Relay page info: whether there is more, and where to go on.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


NodeT = TypeVar("NodeT")


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    """A Relay connection over the page a resolver returns (`edges` of `cursor` and `node`,
    `page_info`). The schema names each after its node: `Connection[AlertType]` is
    `AlertConnection`, its edges `AlertEdge`."""

    edges: list[Edge[NodeT]]
    page_info: PageInfo
