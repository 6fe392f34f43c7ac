"""Fuzz of the WebSocket endpoint (graphql-transport-ws) of a real uvicorn: odd frames before
and after connection_init, and generated subscribe operations for every root Subscription
field, as the tenant's ORG_ADMIN and as the shop's API key. The server must answer each with a
documented close code or a message whose errors carry a code; never a dropped connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from tests.fuzz_schema import HUGE_INTEGER, field_documents, root_fields, served_schema
from tests.fuzz_support import (
    FuzzWorld,
    describe,
    dump_json,
    fuzz_settings,
    fuzz_world,  # noqa: F401 (fixture `world`)
)
from tests.fuzz_ws_support import WsProbe
from tests.servers import ApiServer

SCHEMA = served_schema(Settings(app_env="test"))
SUBSCRIPTIONS = list(root_fields(SCHEMA, "Subscription"))
VALID = "subscription { inventoryChanged { eventId } }"


@pytest.fixture(scope="module")
def server(fuzz_server: ApiServer) -> ApiServer:
    return fuzz_server


def init_params(world: FuzzWorld, caller: str) -> dict[str, str]:
    if caller == "api_key":
        return {"apiKey": world.tenant.api_key}
    return {"authorization": f"Bearer {world.tenant.admin_token}"}


@pytest.fixture(scope="module")
async def anchor(server: ApiServer, world: FuzzWorld) -> AsyncIterator[WsProbe]:
    """A dashboard watching the tenant for the whole module, so the organization's live channel
    is up before any fuzzed subscription joins it (as it is in production)."""
    ws = await WsProbe.open(server.ws_url, server.http_url)
    await ws.init(init_params(world, "admin"))
    await ws.send_and_settle(subscribe("anchor", {"query": VALID}), operation_id="anchor")
    assert not ws.problems, ws.problems
    yield ws
    await ws.close()


@pytest.fixture
async def probe(server: ApiServer, world: FuzzWorld, anchor: WsProbe) -> AsyncIterator[WsProbe]:
    """A connection acknowledged for the tenant's admin."""
    ws = await WsProbe.open(server.ws_url, server.http_url)
    await ws.init(init_params(world, "admin"))
    yield ws
    await ws.close()


def subscribe(op_id: Any, payload: Any) -> str:
    return dump_json({"id": op_id, "type": "subscribe", "payload": payload})


FRAMES_AFTER_ACK: dict[str, tuple[str | bytes, Any]] = {
    "json-list": ("[]", None),
    "json-list-of-messages": ('[{"type":"ping"}]', None),
    "json-number": ("1", None),
    "json-string": ('"x"', None),
    "json-null": ("null", None),
    "not-json": ("hello", None),
    "binary": (b"\x00\x01\xff", None),
    "unknown-type": ('{"type":"nope"}', None),
    "type-not-string": ('{"type":1}', None),
    "no-type": ('{"id":"1"}', None),
    "second-connection-init": ('{"type":"connection_init","payload":{}}', None),
    "subscribe-without-id": (dump_json({"type": "subscribe", "payload": {"query": VALID}}), None),
    "subscribe-without-payload": ('{"type":"subscribe","id":"s"}', "s"),
    "subscribe-payload-string": (subscribe("s", "x"), "s"),
    "subscribe-query-number": (subscribe("s", {"query": 1}), "s"),
    "subscribe-id-number": (subscribe(1, {"query": VALID}), 1),
    "subscribe-id-object": (subscribe({}, {"query": VALID}), {}),
    "subscribe-syntax-error": (subscribe("s", {"query": "subscription {"}), "s"),
    "subscribe-variables-string": (subscribe("s", {"query": VALID, "variables": "x"}), "s"),
    "subscribe-bad-variable-type": (
        subscribe(
            "s",
            {
                "query": "subscription($s: [ID!]) { inventoryChanged(shopIds: $s) { eventId } }",
                "variables": {"s": [HUGE_INTEGER, None]},
            },
        ),
        "s",
    ),
    "subscribe-huge-query": (
        subscribe("s", {"query": "#" + "x" * 1_000_000 + "\n" + VALID}),
        "s",
    ),
    "subscribe-huge-variables": (
        subscribe("s", {"query": VALID, "variables": {f"v{i}": i for i in range(50_000)}}),
        "s",
    ),
    "subscribe-unknown-field": (subscribe("s", {"query": "subscription { nope }"}), "s"),
    "query-over-ws": (subscribe("s", {"query": "{ me { id } }"}), "s"),
    "mutation-over-ws": (
        subscribe("s", {"query": 'mutation { logout(refreshToken: "x") { ok } }'}),
        "s",
    ),
    "complete-unknown-id": ('{"type":"complete","id":"nope"}', None),
    "ping-with-list-payload": ('{"type":"ping","payload":[1]}', None),
}


@pytest.mark.parametrize(
    ("frame", "operation_id"), FRAMES_AFTER_ACK.values(), ids=FRAMES_AFTER_ACK.keys()
)
async def test_odd_frames_after_the_ack_get_a_documented_answer(
    probe: WsProbe, frame: str | bytes, operation_id: Any
) -> None:
    await probe.send_and_settle(frame, operation_id=operation_id)
    assert not probe.problems, f"{frame[:200]!r}:\n{describe(probe.problems)}"


async def test_a_reused_operation_id_closes_with_4409(probe: WsProbe) -> None:
    await probe.send_and_settle(subscribe("dup", {"query": VALID}), operation_id="dup")
    await probe.send_and_settle(subscribe("dup", {"query": VALID}))
    assert (probe.problems, probe.close_code) == ([], 4409)


FRAMES_BEFORE_INIT: dict[str, tuple[str | bytes, int]] = {
    "subscribe-before-init": (subscribe("s", {"query": VALID}), 4401),
    "init-payload-list": ('{"type":"connection_init","payload":[1]}', 4400),
    "init-payload-string": ('{"type":"connection_init","payload":"x"}', 4400),
    "init-without-credential": ('{"type":"connection_init","payload":{}}', 4403),
    "init-bad-token": ('{"type":"connection_init","payload":{"authorization":"Bearer x"}}', 4403),
    "init-bad-api-key": ('{"type":"connection_init","payload":{"apiKey":"cck_test_x"}}', 4403),
    "json-list-first": ("[]", 4400),
    "binary-first": (b"\x00", 4400),
}


@pytest.mark.parametrize(
    ("frame", "close_code"), FRAMES_BEFORE_INIT.values(), ids=FRAMES_BEFORE_INIT.keys()
)
async def test_odd_frames_before_connection_init_close_with_the_documented_code(
    server: ApiServer, anchor: WsProbe, frame: str | bytes, close_code: int
) -> None:
    probe = await WsProbe.open(server.ws_url, server.http_url)
    await probe.send_and_settle(frame)
    await probe.close()
    assert (probe.problems, probe.close_code) == ([], close_code)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "type", "payload", "query", "x"]), children)
    ),
    max_leaves=8,
)
TYPES = st.sampled_from(["subscribe", "complete", "ping", "pong", "next", "error", "start", "ka"])


@st.composite
def frames(draw: st.DrawFn) -> tuple[str | bytes, Any]:
    """A frame and, for a subscribe with an id, that id: bytes, text, any JSON, or a
    protocol-shaped message with odd parts."""
    kind = draw(st.sampled_from(["bytes", "text", "json", "message"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64)), None
    if kind == "text":
        return draw(st.text(max_size=64)), None
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)), None
    message = {"type": draw(TYPES | JSON_VALUES)}
    op_id = draw(st.none() | st.text(max_size=8) | st.integers())
    if op_id is not None:
        message["id"] = op_id
    message["payload"] = draw(JSON_VALUES | st.fixed_dictionaries({"query": st.just(VALID)}))
    return json.dumps(message), op_id if message["type"] == "subscribe" else None


@fuzz_settings(scale=5)
@given(frame=frames())
async def test_generated_frames_get_a_documented_answer(
    server: ApiServer, world: FuzzWorld, anchor: WsProbe, frame: tuple[str | bytes, Any]
) -> None:
    probe = await WsProbe.open(server.ws_url, server.http_url)
    await probe.init(init_params(world, "admin"))
    await probe.send_and_settle(frame[0], operation_id=frame[1])
    await probe.close()
    assert not probe.problems, f"{frame[0][:300]!r}:\n{describe(probe.problems)}"


@pytest.mark.parametrize("caller", ["admin", "api_key"])
@pytest.mark.parametrize("name", SUBSCRIPTIONS)
@fuzz_settings()
@given(data=st.data())
async def test_generated_subscriptions_for_every_root_field_get_a_clean_answer(
    server: ApiServer, world: FuzzWorld, anchor: WsProbe, name: str, caller: str, data: Any
) -> None:
    """Valid and one-violation subscription documents of the served schema, over the socket
    the live view uses (anonymous callers cannot connect: see the 4403 cases above)."""
    document = data.draw(field_documents(SCHEMA, "Subscription", name, world), label="document")
    probe = await WsProbe.open(server.ws_url, server.http_url)
    await probe.init(init_params(world, caller))
    await probe.send_and_settle(subscribe("op", {"query": document}), operation_id="op")
    await probe.close()
    assert not probe.problems, f"as {caller}: {document}\n{describe(probe.problems)}"
