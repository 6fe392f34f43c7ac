"""Shared execution of live events: one GraphQL execution and one encoding per event and
distinct query, however many local subscribers receive it.

Strawberry (graphql-core) executes a subscription's selection set once per event and per
subscriber and runs its per-result pipeline for each; with 1,000 dashboards watching one
organization that is 1,000 identical executions per event. Here:

- every local subscriber of an event gets the same root object (memoized on the envelope), and
  `SharedLiveEventExecutor` memoizes the execution result there too, keyed by the operation
  (parsed documents are shared through the ParserCache) and its variables;
- once one subscriber has executed an event for a query, the others send the already encoded
  `next` frame straight to their socket (`shared_frame`, used by graph.subscriptions) instead
  of going through Strawberry's per-result pipeline again. The operation id comes from
  `LiveTransportWSHandler`, which records it for the operation's task.

Results with errors are never shared. Authorization and expiry were checked before the event
was handed to the subscriber (subscribe-time permission check, scope filter, credential
deadline in the stream loop).
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from graph.execution import FastLeafListExecutionContext
from resolvers.live.envelope import Envelope

# The graphql-transport-ws operation id of the running operation task (see the handler below).
OPERATION_ID: ContextVar[str | None] = ContextVar("live_operation_id", default=None)


def _key(operation: Any, variable_values: Any) -> tuple[Any, ...]:
    return ("result", id(operation), repr(getattr(variable_values, "coerced", variable_values)))


class SharedLiveEventExecutor(FastLeafListExecutionContext):
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
