"""HTTP plumbing of the GraphQL endpoint: request ids, strict request bodies, error bodies.

Every answer the endpoint gives, including a refused request, is GraphQL-shaped JSON with
`extensions.code` and `extensions.requestId`, so a client handles all failures one way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Scope

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STATUS_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
# The members of one request of a batch, and the JSON types they may have.
_REQUEST_FIELDS: dict[str, tuple[type, ...]] = {
    "query": (str, type(None)),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def request_id_for(scope: Scope) -> str:
    """The request's id: the proxy's `X-Request-Id` when it is short and plain (it is echoed
    and logged), else a new one. Stored in the scope, so every part of one request agrees."""
    state = scope.setdefault("state", {})
    existing = state.get("request_id")
    if existing is not None:
        return existing
    offered = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            offered = value.decode("latin-1")
            break
    request_id = offered if _REQUEST_ID_RE.fullmatch(offered) else uuid.uuid4().hex
    state["request_id"] = request_id
    return request_id


def error_body(message: str, *, code: str, request_id: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]}


def unavailable_response(message: str, *, code: str, scope: Scope) -> JSONResponse:
    """503 with `Retry-After: 1` and a retryable GraphQL-shaped error: the request was
    fine and nothing of it ran (the worker is full, or its database is out of reach)."""
    request_id = request_id_for(scope)
    body = error_body(message, code=code, request_id=request_id)
    body["errors"][0]["extensions"].update(retryable=True, retryAfter=1)
    return JSONResponse(
        body, status_code=503, headers={REQUEST_ID_HEADER: request_id, "Retry-After": "1"}
    )


def http_error_response(exc: HTTPException, scope: Scope) -> JSONResponse:
    """A refused request (HTTP 4xx) as a GraphQL-shaped error body."""
    request_id = request_id_for(scope)
    code = _STATUS_CODES.get(exc.status_code, "BAD_REQUEST")
    return JSONResponse(
        error_body(exc.reason, code=code, request_id=request_id),
        status_code=exc.status_code,
        headers={REQUEST_ID_HEADER: request_id},
    )


def _check_request(item: object, where: str) -> None:
    if not isinstance(item, Mapping):
        raise HTTPException(400, f"{where} must be a JSON object with a `query`")
    for name, types in _REQUEST_FIELDS.items():
        if not isinstance(item.get(name), types):
            expected = " or ".join("null" if t is type(None) else _json_name(t) for t in types)
            raise HTTPException(400, f"{where}: `{name}` must be {expected}")


def _json_name(kind: type) -> str:
    return {str: "a string", dict: "an object"}[kind]


def decode_request_body(data: str | bytes) -> dict[str, Any] | list[dict[str, Any]]:
    """The JSON body of a GraphQL request: one request object, or a non-empty list of them
    (a batch). Raises HTTPException(400) naming what is wrong; never anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise HTTPException(400, "request body nests JSON too deeply") from exc
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"request body is not valid JSON: {exc.msg}") from exc
    except ValueError as exc:  # an integer over Python's digit limit (4,300)
        raise HTTPException(400, "request body holds a number with too many digits") from exc
    if isinstance(value, list):
        if not value:
            raise HTTPException(400, "a batch must hold at least one request")
        for index, item in enumerate(value):
            _check_request(item, f"request [{index}] of the batch")
        return value
    _check_request(value, "the request body")
    return value
