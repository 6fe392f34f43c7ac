"""Shared execution of live events: one GraphQL execution per event and distinct query.

Strawberry (graphql-core) executes a subscription's selection set once per event and per
subscriber; with 1,000 dashboards watching one organization that is 1,000 identical executions
per event. Every local subscriber of an event gets the same root object (memoized on the
envelope), so this executor memoizes the result there too, keyed by the operation (parsed
documents are shared through the ParserCache) and its variables. Results with errors are not
shared. Authorization and expiry were checked before the event was handed to the subscriber
(subscribe-time permission check, scope filter, credential deadline in the stream loop).
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.live.envelope import Envelope


class SharedLiveEventExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        envelope = getattr(self.root_value, "envelope", None)
        if (
            not isinstance(envelope, Envelope)
            or self.operation.operation is not OperationType.SUBSCRIPTION
        ):
            return super().execute_operation(serially)
        key = ("result", id(self.operation), repr(self.variable_values.coerced))
        cached = envelope.memo.get(key)
        if cached is not None:
            return cached
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._remember(envelope, key, result)
        if isinstance(result, ExecutionResult) and not result.errors:
            envelope.memo[key] = result
        return result

    async def _remember(self, envelope: Envelope, key: Any, pending: Any) -> Any:
        result = await pending
        if isinstance(result, ExecutionResult) and not result.errors:
            envelope.memo[key] = result
        return result
