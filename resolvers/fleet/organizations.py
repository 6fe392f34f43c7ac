"""Organizations: creating a tenant with its first admin, the development demo tenant, and the
caller's own organization."""

from __future__ import annotations

from auth.passwords import hash_password
from auth.principal import Principal
from config import Settings
from models.identity import Role, User
from models.identity_store import create_user
from models.org_store import (
    count_organizations,
    create_shop,
    get_organization,
    insert_organization,
    set_organization_health,
)
from models.organization import HealthSettings, Organization, Shop
from models.scope import Scope
from resolvers.errors import not_found, raise_if_any
from resolvers.health.lifecycle import refresh_thresholds
from resolvers.health.settings import check_health_settings
from resolvers.identity.security_log import SecurityAction, record_admin_action
from resolvers.validation import (
    check_currency,
    check_email,
    check_name,
    check_password,
    check_timezone,
)


async def create_organization(
    *,
    name: str,
    currency: str,
    timezone: str,
    admin_email: str,
    admin_password: str,
) -> tuple[Organization, User]:
    """A new tenant with its first ORG_ADMIN user; raises ServiceError naming each bad field."""
    raise_if_any(
        check_name("name", name),
        check_currency("currency", currency),
        check_timezone("timezone", timezone),
        check_email("adminEmail", admin_email),
        check_password("adminPassword", admin_password, email=admin_email),
    )
    org = await insert_organization(
        Organization(name=name.strip(), currency=currency, timezone=timezone)
    )
    # A new organization has no users, so its admin's e-mail cannot clash (e-mails are unique
    # per organization).
    admin = await create_user(
        scope=Scope.organization(org.id),
        user=User(
            org_id=org.id,
            email=admin_email,
            password_hash=hash_password(admin_password),
            role=Role.ORG_ADMIN,
        ),
    )
    return org, admin


async def ensure_demo_organization(settings: Settings) -> tuple[str, str] | None:
    """On an empty development database, create a demo tenant with one shop; return its
    login. Never runs in production mode."""
    if settings.is_production or await count_organizations() > 0:
        return None
    org, _ = await create_organization(
        name="Demo Retail",
        currency="EUR",
        timezone="Europe/Berlin",
        admin_email=settings.demo_admin_email,
        admin_password=settings.demo_admin_password,
    )
    await create_shop(
        scope=Scope.organization(org.id),
        shop=Shop(
            org_id=org.id,
            name="Demo Shop",
            code="DEMO-1",
            timezone=org.timezone,
            currency=org.currency,
        ),
    )
    return settings.demo_admin_email, settings.demo_admin_password


async def find_organization(*, principal: Principal) -> Organization:
    org = await get_organization(scope=principal.scope)
    if org is None:
        raise not_found("organization")
    return org


async def update_health_settings(
    *, principal: Principal, health: HealthSettings, settings: Settings
) -> Organization:
    """Replace the organization's health thresholds (None: the deployment's default); they
    apply at once to every machine whose shop does not override them."""
    raise_if_any(check_health_settings("input", health))
    org = await set_organization_health(scope=principal.scope, health=health.model_dump())
    if org is None:
        raise not_found("organization")
    await record_admin_action(
        principal,
        SecurityAction.HEALTH_SETTINGS_CHANGED,
        target_kind="organization",
        target_id=org.id,
        details={k: str(v) for k, v in health.model_dump().items()},
    )
    await refresh_thresholds(scope=principal.scope, shop_ids=None, settings=settings)
    return org
