"""Organizations, their first admin, and the development demo tenant."""

from __future__ import annotations

import logging

from auth.passwords import hash_password, password_problem
from config import Settings
from models.identity import Role, User
from models.identity_store import create_user
from models.org_store import count_organizations, create_shop
from models.organization import Organization, Shop
from models.scope import Scope
from resolvers.errors import ErrorCode, UserError
from resolvers.validation import check_currency, check_name, check_timezone, collect

log = logging.getLogger(__name__)


async def create_organization(
    *,
    name: str,
    currency: str,
    timezone: str,
    admin_email: str,
    admin_password: str,
) -> tuple[Organization, User] | list[UserError]:
    """A new tenant with its first ORG_ADMIN user."""
    errors = collect(
        check_name("name", name),
        check_currency("currency", currency),
        check_timezone("timezone", timezone),
    )
    if "@" not in admin_email:
        errors.append(UserError("adminEmail", ErrorCode.INVALID, "not an e-mail address"))
    problem = password_problem(admin_password, email=admin_email)
    if problem:
        errors.append(UserError("adminPassword", ErrorCode.INVALID, f"password {problem}"))
    if errors:
        return errors
    org = Organization(name=name.strip(), currency=currency, timezone=timezone)
    await org.insert()
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
    """On an empty development database, create a demo tenant; return its login.

    Never runs in production mode.
    """
    if settings.is_production or await count_organizations() > 0:
        return None
    created = await create_organization(
        name="Demo Retail",
        currency="EUR",
        timezone="Europe/Berlin",
        admin_email=settings.demo_admin_email,
        admin_password=settings.demo_admin_password,
    )
    if isinstance(created, list):
        log.warning("demo organization not created: %s", created)
        return None
    org, _ = created
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
