"""Fuzz of raw HTTP requests against a real uvicorn over a real socket: bodies that are not a
GraphQL request object, batches of odd items, deep JSON, invalid UTF-8, wrong content types,
huge headers, GET with parameters, a subscription over POST and random bytes. No answer may be
a 5xx, carry INTERNAL_SERVER_ERROR or an error without a code, or be missing altogether."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz_support import (
    FuzzWorld,
    assert_clean,
    fuzz_settings,
    fuzz_world,  # noqa: F401 (fixture `world`)
    send,
)
from tests.servers import ApiServer, wait_until

# A real server may be slow for reasons of its own (a cold worker); longer than this is no answer.
ANSWER_TIMEOUT_SECONDS = 15.0
TYPENAME = '{"query":"{ __typename }"}'
DEEP = 100_000
JSON = "application/json"


@pytest.fixture(scope="module")
def base_url(fuzz_server: ApiServer) -> str:
    return fuzz_server.http_url


@pytest.fixture(scope="module")
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base_url, timeout=ANSWER_TIMEOUT_SECONDS, trust_env=False
    ) as client:
        yield client


# (name, method, path, body, content type)
RAW_REQUESTS: list[tuple[str, str, str, bytes, str]] = [
    ("string", "POST", "/graphql", b'"x"', JSON),
    ("number", "POST", "/graphql", b"1", JSON),
    ("null", "POST", "/graphql", b"null", JSON),
    ("true", "POST", "/graphql", b"true", JSON),
    ("empty-body", "POST", "/graphql", b"", JSON),
    ("batch-of-numbers", "POST", "/graphql", b"[1,2]", JSON),
    ("batch-of-null", "POST", "/graphql", b"[null]", JSON),
    ("batch-in-batch", "POST", "/graphql", f"[[{TYPENAME}]]".encode(), JSON),
    ("batch-of-strings", "POST", "/graphql", json.dumps([TYPENAME]).encode(), JSON),
    ("empty-batch", "POST", "/graphql", b"[]", JSON),
    ("batch-of-empty-objects", "POST", "/graphql", b"[{}]", JSON),
    ("deep-json-array", "POST", "/graphql", b"[" * DEEP + b"]" * DEEP, JSON),
    ("deep-json-object", "POST", "/graphql", b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON),
    (
        "deep-json-variables",
        "POST",
        "/graphql",
        b'{"query":"{ __typename }","variables":{"v":' + b"[" * DEEP + b"]" * DEEP + b"}}",
        JSON,
    ),
    (
        "huge-integer-variable",
        "POST",
        "/graphql",
        b'{"query":"{ __typename }","variables":{"v":' + b"9" * 5000 + b"}}",
        JSON,
    ),
    ("nan-variable", "POST", "/graphql", b'{"query":"{ __typename }","variables":{"v":NaN}}', JSON),
    ("invalid-utf8", "POST", "/graphql", b'{"query":"{ __typename \xff }"}', JSON),
    ("invalid-utf8-bare", "POST", "/graphql", b"\xff\xfe\xfd", JSON),
    ("overlong-utf8", "POST", "/graphql", b'{"query":"\xc0\xaf{ __typename }"}', JSON),
    ("utf16-json", "POST", "/graphql", TYPENAME.encode("utf-16"), JSON),
    ("bom-json", "POST", "/graphql", b"\xef\xbb\xbf" + TYPENAME.encode(), JSON),
    ("duplicate-keys", "POST", "/graphql", b'{"query":"{ me { id } }","query":1}', JSON),
    ("query-not-string", "POST", "/graphql", b'{"query":["{ __typename }"]}', JSON),
    ("variables-list", "POST", "/graphql", b'{"query":"{ __typename }","variables":[]}', JSON),
    ("extensions-string", "POST", "/graphql", b'{"query":"{ __typename }","extensions":"x"}', JSON),
    (
        "operation-name-object",
        "POST",
        "/graphql",
        b'{"query":"{ __typename }","operationName":{}}',
        JSON,
    ),
    ("text-plain", "POST", "/graphql", TYPENAME.encode(), "text/plain"),
    ("graphql-content-type", "POST", "/graphql", b"{ __typename }", "application/graphql"),
    ("form", "POST", "/graphql", b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
    ("multipart-without-boundary", "POST", "/graphql", b"--x\r\n", "multipart/form-data"),
    (
        "multipart",
        "POST",
        "/graphql",
        b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    ("bad-charset", "POST", "/graphql", TYPENAME.encode(), "application/json; charset=ebcdic"),
    (
        "subscription-over-post",
        "POST",
        "/graphql",
        b'{"query":"subscription { inventoryChanged { eventId } }"}',
        JSON,
    ),
    ("get-query", "GET", "/graphql?query=%7B__typename%7D", b"", ""),
    (
        "get-mutation",
        "GET",
        "/graphql?query=mutation%7Blogout(refreshToken%3A%22x%22)%7Bok%7D%7D",
        b"",
        "",
    ),
    ("get-variables-garbage", "GET", "/graphql?query=%7B__typename%7D&variables=%7B", b"", ""),
    ("put", "PUT", "/graphql", TYPENAME.encode(), JSON),
    ("delete", "DELETE", "/graphql", b"", ""),
    ("options", "OPTIONS", "/graphql", b"", ""),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    [r[1:] for r in RAW_REQUESTS],
    ids=[r[0] for r in RAW_REQUESTS],
)
async def test_odd_http_requests_get_a_clean_answer(
    http: httpx.AsyncClient,
    world: FuzzWorld,
    method: str,
    path: str,
    body: bytes,
    content_type: str,
) -> None:
    """Sent as the ORG_ADMIN, so a body that parses reaches execution (an anonymous
    subscription over POST stops at authentication); the body's shape is what varies."""
    headers = {**world.callers["admin"].headers}
    if content_type:
        headers["content-type"] = content_type
    answer = await send(http, method, path, body, headers)
    assert_clean(f"{method} {path}, {content_type}: {body[:120]!r}", answer)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Fuzz": "x" * 60_000},
        {f"X-Fuzz-{i}": "y" * 100 for i in range(300)},
        {"Authorization": "Bearer " + "a" * 60_000},
        {"X-API-Key": "cck_test_" + "b" * 60_000},
        {"X-Request-ID": "r" * 60_000},
    ],
    ids=["one-60kb-header", "300-headers", "60kb-bearer", "60kb-api-key", "60kb-request-id"],
)
async def test_huge_headers_get_a_clean_answer(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    headers = {"content-type": JSON, **headers}
    answer = await send(http, "POST", "/graphql", TYPENAME.encode(), headers)
    assert_clean(f"headers {[(k, len(v)) for k, v in headers.items()]}", answer)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["query", "variables", "operationName", "extensions", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
QUERIES = st.sampled_from(["{ __typename }", "{ me { id } }", "{ shops { id } }", "{", ""])


@st.composite
def request_bodies(draw: st.DrawFn) -> bytes:
    """A JSON value shaped like a request or a batch (keys from the request's own), or bytes."""
    kind = draw(st.sampled_from(["request", "batch", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    value: Any = draw(JSON_VALUES)
    if kind == "request":
        value = {"query": draw(QUERIES), **(value if isinstance(value, dict) else {"x": value})}
    elif kind == "batch":
        value = draw(st.lists(st.just({"query": draw(QUERIES)}) | JSON_VALUES, max_size=5))
    return json.dumps(value).encode()


@fuzz_settings(scale=10)
@given(
    body=request_bodies(),
    content_type=st.sampled_from([JSON, JSON, "application/graphql+json", "text/plain", ""]),
)
async def test_generated_request_bodies_get_a_clean_answer(
    http: httpx.AsyncClient, world: FuzzWorld, body: bytes, content_type: str
) -> None:
    headers = {**world.callers["admin"].headers}
    if content_type:
        headers["content-type"] = content_type
    answer = await send(http, "POST", "/graphql", body, headers)
    assert_clean(f"POST {content_type or 'no content type'}: {body[:300]!r}", answer)


async def test_a_client_gone_before_its_body_arrived_leaves_no_traceback(
    fuzz_server: ApiServer,
) -> None:
    """An agent whose client timed out mid-upload (or was killed) is not a server error."""
    request_id = f"gone-{uuid.uuid4().hex}"
    _, writer = await asyncio.open_connection("127.0.0.1", fuzz_server.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Request-ID: {request_id}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"query": "{ __typ'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    await asyncio.to_thread(
        wait_until, lambda: request_id in fuzz_server.log(), timeout=15, what="its log line"
    )
    # A later request's line: whatever the server wrote about the first one is in before it.
    marker = f"after-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=fuzz_server.http_url, trust_env=False) as http:
        await http.get("/healthz", headers={"X-Request-ID": marker})
    await asyncio.to_thread(
        wait_until, lambda: marker in fuzz_server.log(), timeout=15, what="the next log line"
    )
    between = fuzz_server.log().split(request_id, 1)[1].split(marker, 1)[0]
    assert "Traceback" not in between
