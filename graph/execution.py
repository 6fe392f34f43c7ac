"""The schema's execution context: graphql-core's, with a fast path for lists of scalars.

Charts return long lists of numbers (`cashFlow` with 100 series x 91 days x 3 fields is
27,300 values). graphql-core completes every list item on its own (path, awaitable check,
`complete_value`, `serialize`), about 2 us each: more than the query's database work. A
list of non-null scalars from a resolver that returned a plain list needs none of that: the
items are serialized in one pass. Anything unusual (a None item, a serializer that refuses a
value) falls back to the general path, which reports the error exactly as before.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLScalarType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


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
