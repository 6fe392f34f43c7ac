"""Managed API keys: listing without secrets, rotation overlap, revocation, expiry,
last-used recording, checksum rejection and the per-key rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from auth.api_keys import parse_key
from config import Settings
from models.identity import ApiKey
from tests.factories import Factory, Tenant, gql, gql_data
from tests.identity_helpers import LOGIN, REFRESH, app_client

KEYS = """
query Keys($shopIds: [ID!]) {
  apiKeys(shopIds: $shopIds) {
    id name prefix shopId machineIds createdBy createdAt lastUsedAt rotatedAt
    previousSecretValidUntil expiresAt revokedAt status
  }
}
"""
ROTATE = """
mutation Rotate($id: ID!, $overlap: Int!) {
  rotateApiKey(id: $id, overlapSeconds: $overlap) {
    secret apiKey { id prefix status previousSecretValidUntil }
    userErrors { field code message }
  }
}
"""
REVOKE = """
mutation Revoke($id: ID!) {
  revokeApiKey(id: $id) { apiKey { status revokedAt } userErrors { field code } }
}
"""
PROBE = "{ shops { id } }"


async def only_key(factory: Factory, tenant: Tenant) -> dict:
    keys = (await gql_data(factory.client, KEYS, token=tenant.admin_token))["apiKeys"]
    assert len(keys) == 1
    return keys[0]


async def rotate(factory: Factory, tenant: Tenant, key: dict, *, overlap: int) -> dict:
    """The rotateApiKey payload of the admin's call."""
    variables = {"id": key["id"], "overlap": overlap}
    data = await gql_data(factory.client, ROTATE, variables, token=tenant.admin_token)
    return data["rotateApiKey"]


async def works(client: httpx.AsyncClient, key: str) -> bool:
    body = await gql(client, "{ organization { id } }", api_key=key)
    # API keys may not call organization: FORBIDDEN proves the key authenticated.
    code = body["errors"][0]["extensions"]["code"]
    assert code in {"FORBIDDEN", "UNAUTHENTICATED"}, body
    return code == "FORBIDDEN"


async def test_listing_shows_metadata_and_never_the_secret(factory: Factory) -> None:
    tenant = await factory.tenant()
    key = await only_key(factory, tenant)
    assert key["status"] == "ACTIVE"
    assert tenant.api_key.startswith(key["prefix"] + "_")
    assert key["createdBy"] == str(tenant.admin.id)
    assert key["shopId"] == str(tenant.shops[0].id)
    body = await gql(factory.client, "{ apiKeys { secret } }", token=tenant.admin_token)
    assert "errors" in body, "the ApiKey type must not have a secret field"
    secret_part = tenant.api_key.split("_")[3]
    listing = str(await gql(factory.client, KEYS, token=tenant.admin_token))
    assert secret_part[:20] not in listing


async def test_rotation_keeps_the_old_secret_until_the_overlap_ends(factory: Factory) -> None:
    tenant = await factory.tenant()
    old = tenant.api_key
    key = await only_key(factory, tenant)
    rotated = await rotate(factory, tenant, key, overlap=3600)
    assert rotated["userErrors"] == []
    new = rotated["secret"]
    assert new != old
    assert new.startswith(key["prefix"] + "_")
    assert rotated["apiKey"]["status"] == "ROTATING"
    assert rotated["apiKey"]["previousSecretValidUntil"] is not None
    assert await works(factory.client, old)
    assert await works(factory.client, new)

    # The overlap ends (moved into the past rather than waited for, so the test is exact).
    await ApiKey.get_pymongo_collection().update_one(
        {"prefix": key["prefix"]},
        {"$set": {"previous_valid_until": datetime.now(UTC) - timedelta(milliseconds=1)}},
    )
    assert not await works(factory.client, old)
    assert await works(factory.client, new)
    listed = await only_key(factory, tenant)
    assert listed["status"] == "ACTIVE"
    assert listed["previousSecretValidUntil"] is None


async def test_rotation_without_overlap_and_a_second_rotation_end_older_secrets(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    key = await only_key(factory, tenant)
    first = (await rotate(factory, tenant, key, overlap=3600))["secret"]
    second = (await rotate(factory, tenant, key, overlap=0))["secret"]
    assert not await works(factory.client, tenant.api_key)
    assert not await works(factory.client, first)
    assert await works(factory.client, second)


async def test_revocation_stops_every_secret_and_blocks_rotation(factory: Factory) -> None:
    tenant = await factory.tenant()
    key = await only_key(factory, tenant)
    new = (await rotate(factory, tenant, key, overlap=3600))["secret"]
    revoked = (await gql_data(factory.client, REVOKE, {"id": key["id"]}, token=tenant.admin_token))[
        "revokeApiKey"
    ]
    assert revoked["apiKey"]["status"] == "REVOKED"
    assert not await works(factory.client, tenant.api_key)
    assert not await works(factory.client, new)
    again = await rotate(factory, tenant, key, overlap=0)
    assert again["secret"] is None
    assert again["userErrors"][0]["code"] == "INVALID"


async def test_expired_key_is_refused_and_listed_as_expired(factory: Factory) -> None:
    tenant = await factory.tenant()
    key = await only_key(factory, tenant)
    await ApiKey.get_pymongo_collection().update_one(
        {"prefix": key["prefix"]},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    assert not await works(factory.client, tenant.api_key)
    assert (await only_key(factory, tenant))["status"] == "EXPIRED"


async def test_last_used_is_recorded_once_per_minute(factory: Factory) -> None:
    tenant = await factory.tenant()
    assert (await only_key(factory, tenant))["lastUsedAt"] is None
    await works(factory.client, tenant.api_key)
    first = (await only_key(factory, tenant))["lastUsedAt"]
    assert first is not None
    await works(factory.client, tenant.api_key)
    assert (await only_key(factory, tenant))["lastUsedAt"] == first


async def test_mistyped_key_is_rejected_by_its_checksum(factory: Factory) -> None:
    tenant = await factory.tenant()
    assert parse_key(tenant.api_key) is not None
    flipped = tenant.api_key[:-10] + ("A" if tenant.api_key[-10] != "A" else "B")
    flipped += tenant.api_key[-9:]
    assert parse_key(flipped) is None
    body = await gql(factory.client, PROBE, api_key=flipped)
    assert body["errors"][0]["message"] == "malformed API key"


async def test_rate_limit_gives_a_retryable_error_with_retry_after(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    # Refill slow enough (one token per 20 s) that a loaded machine cannot refill mid-test.
    tight = settings.model_copy(update={"api_key_rate_burst": 3, "api_key_rate_per_second": 0.05})
    async with app_client(tight) as http:
        codes = []
        for _ in range(4):
            body = await gql(http, "{ organization { id } }", api_key=tenant.api_key)
            codes.append(body["errors"][0]["extensions"])
    assert [c["code"] for c in codes] == ["FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "RATE_LIMITED"]
    assert codes[3]["retryable"] is True
    assert 0 < codes[3]["retryAfter"] <= 20


async def test_pepper_rotation_keeps_keys_and_sessions_working(
    factory: Factory, settings: Settings
) -> None:
    """Retiring a pepper: with the old one listed as previous, keys and refresh tokens hashed
    under it still verify, and a key used once is re-hashed under the new pepper, so the old
    pepper can then be dropped without breaking it."""
    tenant = await factory.tenant()
    async with app_client(settings) as http:
        session = await gql_data(
            http, LOGIN, {"email": tenant.admin.email, "password": "correct-horse-battery"}
        )
    new_pepper = "n" * 48
    retiring = settings.model_copy(
        update={
            "api_key_pepper": new_pepper,
            "api_key_previous_peppers": [settings.api_key_pepper],
        }
    )
    new_only = settings.model_copy(update={"api_key_pepper": new_pepper})
    async with app_client(new_only) as http:
        assert not await works(http, tenant.api_key), "the pepper must matter"
    async with app_client(retiring) as http:
        assert await works(http, tenant.api_key)
        renewed = await gql_data(http, REFRESH, {"t": session["login"]["refreshToken"]})
        assert renewed["refreshSession"]["accessToken"] is not None
    async with app_client(new_only) as http:
        assert await works(http, tenant.api_key), "the key was re-hashed on its last use"
        again = await gql_data(http, REFRESH, {"t": renewed["refreshSession"]["refreshToken"]})
        assert again["refreshSession"]["accessToken"] is not None
