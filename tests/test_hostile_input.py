"""Malformed and hostile input gets a named 4xx or GraphQL error, never a 5xx or an
INTERNAL_SERVER_ERROR, and one bad record never drops the good ones."""

from __future__ import annotations

import jwt
import pytest

from config import Settings
from tests.factories import INGEST, Factory, gql, gql_data, ingest_variables, tx
from tests.identity_helpers import app_client


def assert_named_error(body: dict, code: str) -> dict:
    """The first error carries `code` and a request id; nothing internal leaks."""
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["requestId"]
    assert "Traceback" not in str(body)
    return error


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'"x"', "must be a JSON object"),
        (b"1", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"true", "must be a JSON object"),
        (b"[1,2]", "request [0] of the batch must be a JSON object"),
        (b"[null]", "request [0] of the batch must be a JSON object"),
        (b'[[{"query":"{ __typename }"}]]', "request [0] of the batch must be a JSON object"),
        (b'["{}"]', "request [0] of the batch must be a JSON object"),
        (b"[]", "at least one request"),
        (b'{"query": 1}', "`query` must be a string or null"),
        (b'[{"query": "{ __typename }", "variables": []}]', "`variables` must be an object"),
        (b'{"query": "{ __typename \xff }"}', "not valid UTF-8"),
        (b'{"query": "{ __typename }", "variables": {"a": ' + b"1" * 5000 + b"}}", "digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nests JSON too deeply"),
        (b"{not json", "not valid JSON"),
    ],
)
async def test_malformed_bodies_get_a_named_400(factory: Factory, body: bytes, reason: str) -> None:
    response = await factory.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = assert_named_error(response.json(), "BAD_REQUEST")
    assert reason in error["message"]
    assert response.headers["x-request-id"] == error["extensions"]["requestId"]


async def test_syntax_and_token_limit_errors_carry_a_code_and_request_id(
    factory: Factory,
) -> None:
    syntax = await gql(factory.client, "{ __typename")
    assert "Syntax Error" in assert_named_error(syntax, "GRAPHQL_PARSE_FAILED")["message"]
    many = "{ " + " ".join(["__typename"] * 25_000) + " }"
    tokens = await gql(factory.client, many)
    assert "tokens" in assert_named_error(tokens, "GRAPHQL_PARSE_FAILED")["message"]


@pytest.mark.parametrize("zone", ["America", "Etc", "posixrules", "localtime", "Z" * 300])
async def test_unknown_time_zones_are_refused_by_name(factory: Factory, zone: str) -> None:
    tenant = await factory.tenant()
    flow = await gql(
        factory.client,
        'query($tz: String) { cashFlow(from: "2026-01-01T00:00:00Z", '
        'to: "2026-01-02T00:00:00Z", timezone: $tz) { timezone } }',
        {"tz": zone},
        token=tenant.admin_token,
    )
    assert "unknown time zone" in assert_named_error(flow, "BAD_TIMEZONE")["message"]
    shop = await gql_data(
        factory.client,
        'mutation($tz: String) { createShop(input: {name: "S", code: "TZ", timezone: $tz}) '
        "{ shop { id } userErrors { field code message } } }",
        {"tz": zone},
        token=tenant.admin_token,
    )
    errors = shop["createShop"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [("input.timezone", "INVALID")]
    assert len(errors[0]["message"]) < 150


async def test_a_time_without_offset_means_utc_and_is_checked_like_any_other(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    body = await gql_data(
        factory.client,
        'mutation($shop: ID!) { createApiKey(input: {name: "k", shopId: $shop, expiresAt: '
        '"2001-01-01T00:00:00"}) { secret userErrors { field code message } } }',
        {"shop": str(tenant.shops[0].id)},
        token=tenant.admin_token,
    )
    assert body["createApiKey"]["userErrors"] == [
        {"field": "input.expiresAt", "code": "INVALID", "message": "must be in the future"}
    ]


async def test_an_unpaired_surrogate_rejects_only_its_record(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(
        tenant, [tx(1), tx(2, reference="\ud800"), tx(3, operatorId="op-\udfff")]
    )
    assert result["accepted"] == 1
    assert [(r["seq"], r["code"]) for r in result["rejected"]] == [
        (2, "INVALID_TEXT"),
        (3, "INVALID_TEXT"),
    ]


async def test_an_unpaired_surrogate_in_any_other_argument_is_named(factory: Factory) -> None:
    tenant = await factory.tenant()
    body = await gql(
        factory.client,
        'mutation($n: String!) { createShop(input: {name: $n, code: "X1"}) { shop { id } } }',
        {"n": "shop \ud800"},
        token=tenant.admin_token,
    )
    assert "input.name" in assert_named_error(body, "BAD_USER_INPUT")["message"]
    login = await gql(
        factory.client,
        'mutation($e: String!) { login(email: $e, password: "x") { accessToken } }',
        {"e": "\udc00@example.com"},
    )
    assert "email" in assert_named_error(login, "BAD_USER_INPUT")["message"]


SECURITY_EVENTS_AFTER = (
    "query($a: String) { securityEvents(after: $a) { edges { node { position } } } }"
)


@pytest.mark.parametrize(
    ("query", "variables", "code", "says"),
    [
        (
            "query($n: Int) { transactions(first: $n) { edges { cursor } } }",
            {"n": None},
            "BAD_USER_INPUT",
            "first",
        ),
        ("subscription { inventoryChanged { eventId } }", {}, "BAD_REQUEST", "WebSocket"),
        *(
            (SECURITY_EVENTS_AFTER, {"a": cursor}, "BAD_CURSOR", "invalid cursor")
            for cursor in ("9999999999999999999999", "\u0661\u0662", "-1", "")
        ),
    ],
)
async def test_odd_arguments_get_a_named_error(
    factory: Factory, query: str, variables: dict, code: str, says: str
) -> None:
    """A null page size, a subscription POSTed over HTTP, cursors this API never handed out."""
    tenant = await factory.tenant(shops=0)
    body = await gql(factory.client, query, variables, token=tenant.admin_token)
    assert says in assert_named_error(body, code)["message"]


@pytest.mark.parametrize("exp", [10**12, 10**20, "soon", 1.5e300])
async def test_a_signed_token_with_an_absurd_expiry_is_refused(
    factory: Factory, exp: object
) -> None:
    tenant = await factory.tenant(shops=0)
    claims = jwt.decode(tenant.admin_token, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "exp": exp},
        factory.settings.jwt_secret,
        algorithm="HS256",
        headers={"kid": factory.settings.jwt_active_kid},
    )
    body = await gql(factory.client, "{ me { id } }", token=forged)
    assert_named_error(body, "UNAUTHENTICATED")


async def test_a_signed_token_for_an_unknown_session_is_refused(factory: Factory) -> None:
    tenant = await factory.tenant(shops=0)
    claims = jwt.decode(tenant.admin_token, options={"verify_signature": False})
    without_session = {k: v for k, v in claims.items() if k != "sid"}
    for forged_claims in ({**claims, "sid": "0" * 32}, without_session):
        forged = jwt.encode(
            forged_claims,
            factory.settings.jwt_secret,
            algorithm="HS256",
            headers={"kid": factory.settings.jwt_active_kid},
        )
        body = await gql(factory.client, "{ me { id } }", token=forged)
        assert_named_error(body, "UNAUTHENTICATED")


# Arabic-Indic and full-width digits for 1000: int() reads them, a Long must not.
@pytest.mark.parametrize(
    "digits", ["\u0661\u0660\u0660\u0660", "\uff11\uff10\uff10\uff10", "+1000", " 1000", "1_000"]
)
async def test_long_accepts_only_ascii_decimal_digits(factory: Factory, digits: str) -> None:
    tenant = await factory.tenant()
    variables = ingest_variables(tenant.machine_id, [{**tx(1), "seq": digits}])
    body = await gql(factory.client, INGEST, variables, api_key=tenant.api_key)
    assert "Long cannot represent" in assert_named_error(body, "BAD_USER_INPUT")["message"]


async def test_a_test_key_relabelled_as_live_is_refused(
    factory: Factory, settings: Settings
) -> None:
    from auth.api_keys import _checksum, parse_key

    tenant = await factory.tenant()
    parsed = parse_key(tenant.api_key)
    assert parsed is not None
    assert parsed.environment == "test"
    body = f"cck_live_{parsed.key_id}_{parsed.secret}"
    relabelled = body + _checksum(body)
    live = settings.model_copy(update={"api_key_environment": "live"})
    for server_settings in (settings, live):
        async with app_client(server_settings) as http:
            result = await gql(http, "{ shops { id } }", api_key=relabelled)
            assert_named_error(result, "UNAUTHENTICATED")


async def test_machine_limits_outside_what_a_machine_holds_are_refused(factory: Factory) -> None:
    """A negative threshold once reached the database (and broke every later machine
    listing): limits are checked before anything is stored."""
    tenant = await factory.tenant()
    for capacity, near_empty, near_full in ((100, -1, 90), (2_000_000, 10, 90), (100, 50, 40)):
        body = await gql_data(
            factory.client,
            "mutation($shop: ID!, $serial: String!, $limits: [SlotLimitsInput!]) { "
            "registerMachine(input: {shopId: $shop, serial: $serial, model: CI_10, "
            "limits: $limits}) { machine { id } userErrors { field code message } } }",
            {
                "shop": str(tenant.shops[0].id),
                "serial": f"L-{capacity}-{near_empty}",
                "limits": [
                    {
                        "kind": "NOTE",
                        "denomination": 1000,
                        "capacity": capacity,
                        "nearEmpty": near_empty,
                        "nearFull": near_full,
                    }
                ],
            },
            token=tenant.admin_token,
        )
        payload = body["registerMachine"]
        assert payload["machine"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            ("input.limits", "INVALID")
        ]
