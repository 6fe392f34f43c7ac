"""Issuing, listing, rotating and revoking the API keys shops' local systems use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from auth.api_keys import ParsedKey, display_prefix, generate_key, hash_secret, rebuild_key
from auth.principal import Principal
from config import Settings
from models.identity import ApiKey
from models.identity_store import (
    create_api_key,
    get_api_key,
    list_api_keys,
    mark_api_key_revoked,
    rotate_api_key_secret,
)
from models.machine_store import list_machines
from models.organization import utcnow
from resolvers.errors import CommonErrorCode, ServiceError, not_found, raise_if_any
from resolvers.fleet.shops import find_shop
from resolvers.identity.security_log import SecurityAction, record_admin_action
from resolvers.ids import parse_object_id, parse_object_ids
from resolvers.timestamps import to_utc
from resolvers.validation import check_name, check_overlap


class ApiKeyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ROTATING = "ROTATING"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


def key_status(key: ApiKey, *, now: datetime) -> ApiKeyStatus:
    """REVOKED and EXPIRED win; ROTATING while a previous secret still works."""
    if key.revoked_at is not None:
        return ApiKeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return ApiKeyStatus.EXPIRED
    if key.previous_valid_until is not None and key.previous_valid_until > now:
        return ApiKeyStatus.ROTATING
    return ApiKeyStatus.ACTIVE


@dataclass(frozen=True)
class IssuedKey:
    """A new key; `secret` is the full key string, shown to the caller exactly once."""

    api_key: ApiKey
    secret: str
    prefix: str


async def issue_api_key(
    *,
    principal: Principal,
    name: str,
    shop_id: str,
    machine_ids: list[str] | None,
    expires_at: datetime | None,
    settings: Settings,
) -> IssuedKey:
    """A key for one shop of the caller's scope, optionally limited to some of its machines."""
    raise_if_any(check_name("input.name", name))
    shop = await find_shop(principal=principal, shop_id=shop_id)
    if shop is None:
        raise not_found("shop", field="input.shopId")
    machines = None
    if machine_ids is not None:
        wanted = parse_object_ids(machine_ids) or []
        found = await list_machines(scope=principal.scope, shop_ids=[shop.id], machine_ids=wanted)
        if len(found) != len(set(machine_ids)) or not machine_ids:
            raise ServiceError.of(
                CommonErrorCode.INVALID,
                "every machine must exist and belong to the shop",
                field="input.machineIds",
            )
        machines = [m.id for m in found]
    if expires_at is not None:
        expires_at = to_utc(expires_at)
        if expires_at is None or expires_at <= utcnow():
            raise ServiceError.of(
                CommonErrorCode.INVALID,
                "must be in the future" if expires_at else "must be before 9999 (UTC)",
                field="input.expiresAt",
            )
    raw, parsed = generate_key(settings.api_key_environment)
    key = await create_api_key(
        scope=principal.scope,
        key=ApiKey(
            org_id=principal.org_id,
            shop_id=shop.id,
            machine_ids=machines,
            name=name.strip(),
            key_id=parsed.key_id,
            prefix=display_prefix(parsed),
            secret_hash=hash_secret(parsed.secret, pepper=settings.api_key_pepper),
            created_by=principal.user_id,
            expires_at=expires_at,
        ),
    )
    await record_admin_action(
        principal,
        SecurityAction.API_KEY_CREATED,
        target_kind="API_KEY",
        target_id=key.id,
        details={"prefix": key.prefix, "shop": str(shop.id)},
    )
    return IssuedKey(api_key=key, secret=raw, prefix=display_prefix(parsed))


async def find_api_keys(*, principal: Principal, shop_ids: list[str] | None) -> list[ApiKey]:
    """Keys of the shops the caller may see (never their secrets)."""
    return await list_api_keys(scope=principal.scope, shop_ids=parse_object_ids(shop_ids))


async def rotate_api_key(
    *, principal: Principal, key_id: str, overlap_seconds: int, settings: Settings
) -> IssuedKey:
    """A new secret for the key; the current one keeps working for `overlap_seconds`.

    Rotating again during an overlap ends the older secret at once (only one previous
    secret is kept). A revoked or expired key cannot be rotated.
    """
    raise_if_any(check_overlap("overlapSeconds", overlap_seconds))
    key = await _find_key(principal, key_id)
    now = utcnow()
    if key_status(key, now=now) in (ApiKeyStatus.REVOKED, ApiKeyStatus.EXPIRED):
        raise ServiceError.of(
            CommonErrorCode.INVALID, "a revoked or expired key cannot be rotated", field="id"
        )
    raw, parsed = generate_key_for(key)
    rotated = await rotate_api_key_secret(
        scope=principal.scope,
        key_id=key.id,
        expected_hash=key.secret_hash,
        new_hash=hash_secret(parsed.secret, pepper=settings.api_key_pepper),
        previous_valid_until=now + timedelta(seconds=overlap_seconds),
        at=now,
    )
    if not rotated:
        raise ServiceError.of(
            CommonErrorCode.CONFLICT,
            "the key was changed concurrently; read it again",
            field="id",
            retryable=True,
        )
    refreshed = await get_api_key(scope=principal.scope, key_id=key.id)
    assert refreshed is not None
    await record_admin_action(
        principal,
        SecurityAction.API_KEY_ROTATED,
        target_kind="API_KEY",
        target_id=key.id,
        details={"prefix": key.prefix, "overlapSeconds": str(overlap_seconds)},
    )
    return IssuedKey(api_key=refreshed, secret=raw, prefix=key.prefix)


def generate_key_for(key: ApiKey) -> tuple[str, ParsedKey]:
    """A new secret under the key's existing public id, so its prefix stays the same."""
    environment = key.prefix.split("_")[1]
    _, parsed = generate_key(environment)
    return rebuild_key(parsed, key_id=key.key_id)


async def _find_key(principal: Principal, key_id: str) -> ApiKey:
    oid = parse_object_id(key_id)
    key = await get_api_key(scope=principal.scope, key_id=oid) if oid else None
    if key is None:
        raise not_found("API key", field="id")
    return key


async def revoke_api_key(*, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key of the caller's scope; it stops authenticating at once."""
    key = await _find_key(principal, key_id)
    now = utcnow()
    if await mark_api_key_revoked(scope=principal.scope, key_id=key.id, at=now):
        await record_admin_action(
            principal,
            SecurityAction.API_KEY_REVOKED,
            target_kind="API_KEY",
            target_id=key.id,
            details={"prefix": key.prefix},
        )
    refreshed = await get_api_key(scope=principal.scope, key_id=key.id)
    assert refreshed is not None
    return refreshed
