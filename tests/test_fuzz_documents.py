"""Fuzz of what surrounds an operation, in-process: malformed and hostile documents (fragment
chains, aliases, deep nesting, unknown arguments, token soup) and hostile credentials (JWTs
with odd claims signed with the real key, garbage Authorization and X-API-Key headers).
Every answer must be free of 5xx, INTERNAL_SERVER_ERROR and errors without a code, and a
small document must be answered within SLOW_ANSWER_SECONDS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from tests.fuzz_support import (
    FuzzWorld,
    assert_clean,
    fuzz_http,  # noqa: F401 (fixture `http`)
    fuzz_settings,
    fuzz_world,  # noqa: F401 (fixture `world`)
    graphql_body,
    post,
)

# Exponential work in fragment spreads stays bounded: at most this many paths through a chain.
MAX_FRAGMENT_PATHS = 2**18


def fragment_chain(depth: int, fanout: int, field: str = "__typename") -> str:
    """`F0` spreads `F1` `fanout` times, `F1` spreads `F2` ..., `depth` levels: small text,
    fanout**depth paths for anything that expands spreads without memoizing."""
    spreads = [
        f"fragment F{i} on Query {{ {field} " + " ".join([f"...F{i + 1}"] * fanout) + " }"
        for i in range(depth)
    ]
    spreads.append(f"fragment F{depth} on Query {{ {field} }}")
    return "query { ...F0 }\n" + "\n".join(spreads)


def fragment_pairs(pairs: int) -> str:
    """Pairs of fragments on Shop that spread each other's successor twice (4**pairs paths)."""
    parts = []
    for i in range(pairs):
        parts.append(f"fragment A{i} on Shop {{ id ...B{i} ...B{i} }}")
        parts.append(f"fragment B{i} on Shop {{ name ...A{i + 1} ...A{i + 1} }}")
    parts.append(f"fragment A{pairs} on Shop {{ code }}")
    return "{ shops { ...A0 } }\n" + "\n".join(parts)


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(count)) + " }"


def nested_selections(depth: int) -> str:
    return "{ " + "shops { machines { shop { " * depth + "id" + " } } }" * depth + " }"


def nested_list_literal(depth: int) -> str:
    return "{ shops(ids: " + "[" * depth + '"x"' + "]" * depth + ") { id } }"


def nested_braces(depth: int) -> str:
    return "{ " * depth + "me { id }" + " }" * depth


TOKENS = [
    "{", "}", "(", ")", "[", "]", ":", "$x", "@include", "...", "!", "=", ",", '"', '"""',
    "\\u", "query", "mutation", "subscription", "fragment", "on", "me", "shops", "id",
    "first", "1", "-", "1e999", "null", "\x00", "\ud800", "#", "\n", "Query", "F",
]  # fmt: skip


@st.composite
def hostile_documents(draw: st.DrawFn) -> str:
    """One hostile document: exponential fragment spreads, aliases, nesting (selections, list
    literals, braces), unknown arguments and directives, or a soup of GraphQL tokens."""
    kind = draw(st.sampled_from(["chain", "pairs", "aliases", "nest", "misc", "soup"]))
    if kind == "chain":
        fanout = draw(st.integers(1, 3))
        depth = draw(st.integers(1, 40 if fanout == 1 else _max_depth(fanout)))
        return fragment_chain(depth, fanout, draw(st.sampled_from(["__typename", "me { id }"])))
    if kind == "pairs":
        return fragment_pairs(draw(st.integers(1, _max_depth(4))))
    if kind == "aliases":
        return aliases(draw(st.integers(1, 400)))
    if kind == "nest":
        builder = draw(st.sampled_from([nested_selections, nested_list_literal, nested_braces]))
        return builder(draw(st.integers(1, 3000)))
    if kind == "misc":
        return draw(
            st.sampled_from(
                [
                    "{ shops(nope: 1) { id } }",
                    "{ shops(ids: 1, ids: 2) { id } }",
                    "{ me @nope { id } }",
                    "{ me @include(if: $undefined) { id } }",
                    "query A { me { id } } query A { me { id } }",
                    "query A { me { id } } query B { me { id } }",
                    "{ me { id } } fragment F on Nope { id }",
                    "{ me { ...F } } fragment F on User { ...F }",
                    "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
                    "subscription { inventoryChanged { eventId } }",
                    "mutation { login { accessToken } }",
                ]
            )
        )
    return " ".join(draw(st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=60)))


def _max_depth(fanout: int) -> int:
    """The deepest chain with `fanout` spreads per level within MAX_FRAGMENT_PATHS paths."""
    depth = 1
    while fanout ** (depth + 1) <= MAX_FRAGMENT_PATHS:
        depth += 1
    return depth


@fuzz_settings(scale=10)
@given(document=hostile_documents(), operation_name=st.none() | st.sampled_from(["A", "B", ""]))
async def test_generated_hostile_documents_are_refused_quickly_with_a_code(
    http: httpx.AsyncClient, world: FuzzWorld, document: str, operation_name: str | None
) -> None:
    body = graphql_body(document)
    if operation_name is not None:
        body = body[:-1] + f',"operationName":"{operation_name}"}}'.encode()
    answer = await post(http, body, world.callers["admin"].headers)
    assert_clean(f"as admin, operationName={operation_name!r}: {document[:2000]}", answer)


# One of each kind at a size the generator reaches only sometimes: always run, reported apart.
KNOWN_HOSTILE = {
    "fragment-chain-17x2": fragment_chain(17, 2),
    "fragment-chain-11x3": fragment_chain(11, 3),
    "fragment-pairs-8": fragment_pairs(8),
    "400-aliases": aliases(400),
    "nested-selections-3000": nested_selections(3000),
    "nested-list-literal-3000": nested_list_literal(3000),
    "nested-braces-3000": nested_braces(3000),
    "unterminated": "{ me { id ",
    "lone-surrogate-literal": '{ shops(ids: ["\ud800"]) { id } }',
    "unknown-argument": "{ shops(nope: 1) { id } }",
}


@pytest.mark.parametrize("document", KNOWN_HOSTILE.values(), ids=KNOWN_HOSTILE.keys())
async def test_known_hostile_documents_are_refused_quickly_with_a_code(
    http: httpx.AsyncClient, world: FuzzWorld, document: str
) -> None:
    answer = await post(http, graphql_body(document), world.callers["admin"].headers)
    assert_clean(f"as admin: {document[:300]}", answer)


def sign_hs256(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """A JWT signed like the server's, with any claims at all (PyJWT refuses to encode some)."""

    def part(value: dict[str, Any]) -> str:
        text = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    signing_input = f"{part({'typ': 'JWT', **header})}.{part(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def valid_claims(world: FuzzWorld, settings: Settings) -> dict[str, Any]:
    """The claims of a good access token of the tenant's admin."""
    now = int(time.time())
    return {
        "sub": str(world.tenant.admin.id),
        "org": str(world.tenant.org.id),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }


@st.composite
def odd_claims(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """`valid` with some claims dropped and some replaced, so each odd claim is also seen
    past the checks of the others."""
    now = valid["iat"]
    times = st.sampled_from([now, now + 600, now - 600, 10**20, -(10**20), 0, 1e308, "x", None])
    ids = st.sampled_from([valid["sub"], "", "x", 1, None, "f" * 24, ["x"]])
    replaced = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "exp": times,
                "iat": times,
                "nbf": times,
                "sub": ids,
                "org": ids,
                "sid": ids,
                "aud": st.sampled_from([valid["aud"], [valid["aud"]], "x", 1]),
                "iss": st.sampled_from([valid["iss"], "x", 1]),
            },
        )
    )
    dropped = draw(st.sets(st.sampled_from(sorted(valid))))
    return {k: v for k, v in {**valid, **replaced}.items() if k not in dropped}


@fuzz_settings(scale=10)
@given(data=st.data())
async def test_tokens_with_odd_claims_signed_with_the_real_key_get_a_coded_answer(
    http: httpx.AsyncClient, world: FuzzWorld, settings: Settings, data: Any
) -> None:
    claims = data.draw(odd_claims(valid_claims(world, settings)), label="claims")
    kid = data.draw(st.sampled_from([settings.jwt_active_kid, "nope", ""]), label="kid")
    alg = data.draw(st.sampled_from(["HS256", "none", "HS512", ""]), label="alg")
    secret = settings.jwt_key_ring[settings.jwt_active_kid]
    token = sign_hs256({"alg": alg, "kid": kid}, claims, secret)
    answer = await post(http, graphql_body("{ me { id } }"), {"Authorization": f"Bearer {token}"})
    assert_clean(f"claims {claims}, kid {kid!r}, alg {alg!r}", answer)


@pytest.mark.parametrize(
    "claims",
    [{"exp": 10**20}, {"iat": 10**20}, {"nbf": 10**20}, {"exp": -(10**20)}],
    ids=["exp", "iat", "nbf", "negative-exp"],
)
async def test_tokens_with_far_out_times_get_a_coded_answer(
    http: httpx.AsyncClient, world: FuzzWorld, settings: Settings, claims: dict[str, int]
) -> None:
    """Otherwise valid tokens with one time claim at +-10^20 s (past datetime's range)."""
    payload = {**valid_claims(world, settings), **claims}
    secret = settings.jwt_key_ring[settings.jwt_active_kid]
    token = sign_hs256({"alg": "HS256", "kid": settings.jwt_active_kid}, payload, secret)
    answer = await post(http, graphql_body("{ me { id } }"), {"Authorization": f"Bearer {token}"})
    assert_clean(f"claims {claims}", answer)


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)


@fuzz_settings(scale=10)
@given(
    name=st.sampled_from(["Authorization", "X-API-Key"]),
    value=HEADER_TEXT
    | st.builds(lambda s: f"Bearer {s}", HEADER_TEXT)
    | st.builds(lambda s: f"cck_test_{s}", HEADER_TEXT)
    | st.sampled_from(["Bearer", "Bearer ", "Basic eA==", "bearer x.y.z", "cck_live_", "cck_"]),
)
async def test_garbage_credentials_get_a_coded_answer(
    http: httpx.AsyncClient, name: str, value: str
) -> None:
    answer = await post(http, graphql_body("{ shops { id } }"), {name: value})
    assert_clean(f"{name}: {value!r}", answer)
