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

import json
from collections import OrderedDict
from collections.abc import Mapping
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


class SharedPayloadEncoder:
    """JSON for `next` messages whose `data` is a shared result: the payload is encoded once
    and only the operation id differs per subscriber. Keeps the last few payloads (held, so
    their ids cannot be reused while cached)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._cache: OrderedDict[int, tuple[Any, str]] = OrderedDict()

    def encode(self, message: Mapping[str, Any]) -> str | None:
        """The encoded message, or None when it is not a plain `next` message."""
        payload = message.get("payload")
        if (
            message.get("type") != "next"
            or not isinstance(payload, dict)
            or set(payload) != {"data"}
            or not isinstance(payload["data"], dict)
        ):
            return None
        data = payload["data"]
        hit = self._cache.get(id(data))
        if hit is None or hit[0] is not data:
            hit = (data, json.dumps(data, separators=(",", ":")))
            self._cache[id(data)] = hit
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return f'{{"id":{json.dumps(message["id"])},"type":"next","payload":{{"data":{hit[1]}}}}}'
