"""User management by an organization's admins: create, set role, assign shops, deactivate.

Nobody can change their own role or deactivate themselves, so no one can raise their own
privileges, and the admin making a change always remains. A role or access change
takes effect on the user's next request (the principal is rebuilt from the stored user on
every request); deactivation also revokes every refresh token at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from auth.passwords import hash_in_thread
from auth.principal import Principal
from auth.refresh_tokens import (
    INVITE_PREFIX,
    generate_opaque_token,
    opaque_token_hash,
    opaque_token_hashes,
)
from config import Settings
from models.identity import Role, User
from models.identity_store import (
    DuplicateEmail,
    accept_invitation,
    create_user,
    find_invited_user,
    get_user,
    list_users,
    update_user,
)
from models.machine_store import list_machines
from models.org_store import list_shops
from models.organization import utcnow
from models.scope import Scope
from models.session_store import revoke_user_sessions
from resolvers.errors import (
    CommonErrorCode,
    ServiceError,
    UserError,
    already_exists,
    not_found,
    raise_if_any,
)
from resolvers.identity.errors import IdentityErrorCode
from resolvers.identity.security_log import (
    SecurityAction,
    record_admin_action,
    record_user_action,
)
from resolvers.ids import parse_object_id, parse_object_ids
from resolvers.validation import check_email, check_password

SHOP_ROLES = (Role.SHOP_MANAGER, Role.EMPLOYEE)


def _org(principal: Principal) -> Scope:
    return Scope.organization(principal.org_id)


async def find_users(*, principal: Principal) -> list[User]:
    return await list_users(scope=_org(principal))


async def _check_access(
    principal: Principal,
    role: Role,
    shop_ids: list[str] | None,
    machine_ids: list[str] | None,
    *,
    prefix: str,
) -> tuple[list[ObjectId], list[ObjectId] | None]:
    """Validated shop and machine assignments for `role` (ids must exist in the org);
    raises ServiceError naming the field."""

    def invalid(field: str, message: str) -> ServiceError:
        return ServiceError.of(CommonErrorCode.INVALID, message, field=f"{prefix}{field}")

    shops_in = shop_ids or []
    if role not in SHOP_ROLES:
        if shops_in or machine_ids:
            raise invalid(
                "shopIds", f"{role.value} sees the whole organization; assign no shops or machines"
            )
        return [], None
    shops = await list_shops(scope=_org(principal), shop_ids=parse_object_ids(shops_in) or [])
    if not shops_in or len(shops) != len(set(shops_in)):
        raise invalid(
            "shopIds", "assign at least one shop; every shop must exist in the organization"
        )
    shop_oids = [s.id for s in shops]
    if machine_ids is None:
        return shop_oids, None
    if role is not Role.EMPLOYEE:
        raise invalid("machineIds", "only employees get machines")
    found = await list_machines(
        scope=_org(principal), shop_ids=shop_oids, machine_ids=parse_object_ids(machine_ids)
    )
    if not machine_ids or len(found) != len(set(machine_ids)):
        raise invalid("machineIds", "every machine must exist in one of the assigned shops")
    return shop_oids, [m.id for m in found]


@dataclass(frozen=True)
class CreatedUser:
    """The new user and, when invited, the one-time token to hand over (shown once)."""

    user: User
    invite_token: str | None


async def add_user(
    *,
    principal: Principal,
    email: str,
    password: str | None,
    role: Role,
    shop_ids: list[str] | None,
    machine_ids: list[str] | None,
    settings: Settings,
) -> CreatedUser:
    """A new active user of the caller's organization.

    With `password` the user can log in at once; without, the user is invited: the result
    carries a one-time token (valid `invite_ttl_seconds`) for `accept_invite`, and until then
    the account has a random password nobody knows.
    """
    email = email.strip().lower()
    input_problems: list[UserError | None] = [
        check_email("input.email", email),
        None if password is None else check_password("input.password", password, email=email),
    ]
    try:
        access = await _check_access(principal, role, shop_ids, machine_ids, prefix="input.")
    except ServiceError as exc:
        raise_if_any(input_problems, exc.errors)
        raise
    raise_if_any(input_problems)
    invite = None if password is not None else generate_opaque_token(INVITE_PREFIX)
    try:
        user = await create_user(
            scope=_org(principal),
            user=User(
                org_id=principal.org_id,
                email=email,
                password_hash=await hash_in_thread(password or secrets.token_urlsafe(32)),
                role=role,
                shop_ids=access[0],
                machine_ids=access[1],
                invite_hash=None
                if invite is None
                else opaque_token_hash(
                    invite, prefix=INVITE_PREFIX, pepper=settings.api_key_pepper
                ),
                invite_expires_at=None
                if invite is None
                else utcnow() + timedelta(seconds=settings.invite_ttl_seconds),
            ),
        )
    except DuplicateEmail as exc:
        raise already_exists(
            "e-mail already registered in this organization", field="input.email"
        ) from exc
    await record_admin_action(
        principal,
        SecurityAction.USER_CREATED,
        target_kind="USER",
        target_id=user.id,
        details={"role": role.value, "invited": str(invite is not None).lower()},
    )
    return CreatedUser(user=user, invite_token=invite)


async def accept_invite(*, token: str, password: str, settings: Settings) -> User:
    """Set the invited user's password with the one-time token; the token then stops working."""
    hashes = opaque_token_hashes(token, prefix=INVITE_PREFIX, peppers=settings.api_key_peppers)
    invalid = ServiceError.of(
        IdentityErrorCode.INVALID_CREDENTIALS, "invalid or expired invitation", field="token"
    )
    invited = await find_invited_user(invite_hashes=hashes) if hashes else None
    if hashes is None or invited is None:
        raise invalid
    raise_if_any(check_password("password", password, email=invited.email))
    user = await accept_invitation(
        invite_hashes=hashes, password_hash=await hash_in_thread(password), at=utcnow()
    )
    if user is None:  # lapsed, deactivated, or used concurrently
        raise invalid
    await record_user_action(
        org_id=user.org_id, user_id=user.id, action=SecurityAction.USER_INVITE_ACCEPTED
    )
    return user


async def _target(principal: Principal, user_id: str) -> User:
    oid = parse_object_id(user_id)
    user = await get_user(scope=_org(principal), user_id=oid) if oid else None
    if user is None:
        raise not_found("user", field="id")
    if user.id == principal.user_id:
        raise ServiceError.of(
            CommonErrorCode.FORBIDDEN, "you cannot change your own access", field="id"
        )
    return user


async def set_user_access(
    *,
    principal: Principal,
    user_id: str,
    role: Role,
    shop_ids: list[str] | None,
    machine_ids: list[str] | None,
) -> User:
    """Give another user of the organization a role and the shops/machines it needs."""
    user = await _target(principal, user_id)
    access = await _check_access(principal, role, shop_ids, machine_ids, prefix="")
    updated = await update_user(
        scope=_org(principal),
        user_id=user.id,
        changes={"role": role.value, "shop_ids": access[0], "machine_ids": access[1]},
    )
    assert updated is not None
    action = (
        SecurityAction.USER_ROLE_CHANGED
        if role is not user.role
        else SecurityAction.USER_ACCESS_CHANGED
    )
    await record_admin_action(
        principal,
        action,
        target_kind="USER",
        target_id=user.id,
        details={
            "from": user.role.value,
            "to": role.value,
            "shops": ",".join(str(s) for s in access[0]),
            "machines": "" if access[1] is None else ",".join(str(m) for m in access[1]),
        },
    )
    return updated


async def deactivate_user(*, principal: Principal, user_id: str) -> User:
    """Deactivate another user: access tokens stop on the next request, refresh at once."""
    user = await _target(principal, user_id)
    updated = await update_user(scope=_org(principal), user_id=user.id, changes={"active": False})
    assert updated is not None
    revoked = await revoke_user_sessions(user_id=user.id, at=utcnow())
    if user.active:
        await record_admin_action(
            principal,
            SecurityAction.USER_DEACTIVATED,
            target_kind="USER",
            target_id=user.id,
            details={"revokedRefreshTokens": str(revoked)},
        )
    return updated


async def find_me(*, principal: Principal) -> User:
    user = await get_user(scope=principal.scope, user_id=principal.actor_id)
    if user is None:
        raise not_found("user")
    return user
