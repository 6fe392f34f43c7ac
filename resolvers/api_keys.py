"""Issuing and revoking the API keys shops' local systems authenticate with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth.api_keys import display_prefix, generate_key, hash_secret
from auth.principal import Principal
from config import Settings
from models.identity import ApiKey
from models.identity_store import create_api_key, get_api_key, mark_api_key_revoked
from models.machine_store import list_machines
from models.org_store import get_shop
from models.organization import utcnow
from resolvers.errors import ErrorCode, UserError
from resolvers.ids import parse_object_id, parse_object_ids
from resolvers.validation import check_name


@dataclass(frozen=True)
class IssuedKey:
    """A new key; `secret` is the full key string, shown to the caller exactly once."""

    key: ApiKey
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
) -> IssuedKey | list[UserError]:
    """A key for one shop of the caller's scope, optionally limited to some of its machines."""
    error = check_name("input.name", name)
    if error:
        return [error]
    shop_oid = parse_object_id(shop_id)
    shop = await get_shop(scope=principal.scope, shop_id=shop_oid) if shop_oid else None
    if shop is None:
        return [UserError("input.shopId", ErrorCode.NOT_FOUND, "shop not found")]
    machines = None
    if machine_ids is not None:
        wanted = parse_object_ids(machine_ids) or []
        found = await list_machines(scope=principal.scope, shop_ids=[shop.id], machine_ids=wanted)
        if len(found) != len(set(machine_ids)) or not machine_ids:
            return [
                UserError(
                    "input.machineIds",
                    ErrorCode.INVALID,
                    "every machine must exist and belong to the shop",
                )
            ]
        machines = [m.id for m in found]
    if expires_at is not None and expires_at <= utcnow():
        return [UserError("input.expiresAt", ErrorCode.INVALID, "must be in the future")]
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
    return IssuedKey(key=key, secret=raw, prefix=display_prefix(parsed))


async def revoke_api_key(*, principal: Principal, key_id: str) -> ApiKey | list[UserError]:
    """Revoke a key of the caller's scope; it stops authenticating at once."""
    oid = parse_object_id(key_id)
    key = await get_api_key(scope=principal.scope, key_id=oid) if oid else None
    if key is None:
        return [UserError("id", ErrorCode.NOT_FOUND, "API key not found")]
    now = utcnow()
    await mark_api_key_revoked(scope=principal.scope, key_id=key.id, at=now)
    refreshed = await get_api_key(scope=principal.scope, key_id=key.id)
    assert refreshed is not None
    return refreshed
