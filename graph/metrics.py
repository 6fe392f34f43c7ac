"""`/metrics` (Prometheus text format) and the per-operation GraphQL metrics.

Off unless `METRICS_TOKEN` is set (callers send `Authorization: Bearer <token>`) or
`METRICS_ALLOW=loopback` (callers on 127.0.0.1/::1, which behind nginx means the host itself,
since uvicorn takes the client address from X-Forwarded-For). With PROMETHEUS_MULTIPROC_DIR
set (`cashcc serve`), the values of every worker are added up.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config import Settings

GRAPHQL_REQUESTS = Counter(
    "cashcc_graphql_requests",
    "GraphQL operations over HTTP, by operation name and outcome.",
    ["operation", "outcome"],  # outcome: ok | error | internal_error | timeout
)
GRAPHQL_SECONDS = Histogram(
    "cashcc_graphql_request_seconds",
    "Time to run one GraphQL HTTP request (all operations of a batch).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)
# Operation names are chosen by clients: only well-formed names are kept, and only the first
# MAX_OPERATION_LABELS distinct ones per process; the rest count as "other".
MAX_OPERATION_LABELS = 100
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# The name in the document when the request does not send `operationName` (a document with
# several operations must send it, so the first definition is the one that runs).
_DOCUMENT_NAME = re.compile(r"^\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+(\w+)")
_seen_operations: set[str] = set()
LOOPBACK = {"127.0.0.1", "::1"}


def operation_label(name: Any) -> str:
    if not name:
        return "anonymous"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "other"
    if name not in _seen_operations:
        if len(_seen_operations) >= MAX_OPERATION_LABELS:
            return "other"
        _seen_operations.add(name)
    return name


def outcome_of(result: Any) -> str:
    errors = getattr(result, "errors", None) or []
    if not errors:
        return "ok"
    codes = {(getattr(e, "extensions", None) or {}).get("code") for e in errors}
    if "INTERNAL_SERVER_ERROR" in codes:
        return "internal_error"
    return "timeout" if "TIMEOUT" in codes else "error"


def observe_operations(
    requests: Sequence[Any], results: Sequence[Any] | None, seconds: float
) -> list[tuple[str, str]]:
    """Count an HTTP GraphQL request: one entry per operation of a batch, its result at the
    same index. `results` None: the request failed before any result existed (a 400 for a bad
    batch), counted once as an error. Returns the (operation, outcome) pairs for the request
    log."""
    outcomes = [outcome_of(one) for one in results] if results is not None else ["error"]
    pairs = []
    for data, outcome in zip(requests, outcomes, strict=False):
        name = getattr(data, "operation_name", None)
        if not name:
            match = _DOCUMENT_NAME.match(getattr(data, "query", None) or "")
            name = match.group(1) if match else None
        pair = (operation_label(name), outcome)
        GRAPHQL_REQUESTS.labels(*pair).inc()
        pairs.append(pair)
    GRAPHQL_SECONDS.observe(seconds)
    return pairs


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status)


def metrics_route(settings: Settings) -> Route:
    async def metrics(request: Request) -> Response:
        token = settings.metrics_token
        loopback = settings.metrics_allow == "loopback"
        if not token and not loopback:
            return _refusal(404, "NOT_FOUND", "metrics are off (METRICS_TOKEN, METRICS_ALLOW)")
        client = request.client.host if request.client else None
        if not (loopback and client in LOOPBACK):
            offered = request.headers.get("authorization", "")
            expected = f"Bearer {token}" if token else None
            if expected is None or not hmac.compare_digest(offered.encode(), expected.encode()):
                return _refusal(401, "UNAUTHENTICATED", "metrics need the bearer METRICS_TOKEN")
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])
