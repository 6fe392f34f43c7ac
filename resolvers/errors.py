"""The one error a business operation raises for what its caller can fix.

Services return plain values and raise `ServiceError` carrying one or more `UserError`s (field
path, code, message, whether a retry may succeed). One place in the GraphQL layer turns it into
the `userErrors` of a mutation's payload, or into `errors[].extensions.code` for a query; any
other exception stays masked as an internal error.

Codes are owned by the domains: each defines a StrEnum of the codes it raises in its
`errors.py` (the generic ones below are shared by all), and `ALL_ERROR_CODES` lists every enum
so the schema exposes them as one `UserErrorCode` enum and the docs can be checked against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from resolvers.alerts.errors import AlertErrorCode
from resolvers.analytics.errors import AnalyticsErrorCode
from resolvers.audit.errors import AuditErrorCode
from resolvers.fleet.errors import FleetErrorCode
from resolvers.health.errors import HealthErrorCode
from resolvers.identity.errors import IdentityErrorCode
from resolvers.ledger.errors import LedgerErrorCode
from resolvers.webhooks.errors import WebhookErrorCode


class CommonErrorCode(StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    BAD_TIMEZONE = "BAD_TIMEZONE"
    BAD_CURSOR = "BAD_CURSOR"
    BAD_PAGE_SIZE = "BAD_PAGE_SIZE"


@dataclass(frozen=True)
class UserError:
    """One problem. `field` is the input path (`input.machineId`), None for the request."""

    field: str | None
    code: StrEnum
    message: str
    retryable: bool = False
    retry_after: float | None = None


class ServiceError(Exception):
    """What the caller can fix (or retry); holds at least one UserError, the first names the
    request's main problem."""

    def __init__(self, *errors: UserError) -> None:
        if not errors:
            raise ValueError("a ServiceError needs at least one UserError")
        super().__init__(errors[0].message)
        self.errors = errors

    @classmethod
    def of(
        cls,
        code: StrEnum,
        message: str,
        *,
        field: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> ServiceError:
        return cls(UserError(field, code, message, retryable, retry_after))

    @property
    def first(self) -> UserError:
        return self.errors[0]


def raise_if_any(*checks: UserError | Iterable[UserError | None] | None) -> None:
    """Raise one ServiceError with every problem found, if there is any."""
    found: list[UserError] = []
    for check in checks:
        if check is None:
            continue
        if isinstance(check, UserError):
            found.append(check)
        else:
            found.extend(c for c in check if c is not None)
    if found:
        raise ServiceError(*found)


def already_exists(message: str, *, field: str) -> ServiceError:
    """A unique value (shop code, machine serial, e-mail) is taken in the organization."""
    return ServiceError.of(CommonErrorCode.ALREADY_EXISTS, message, field=field)


def not_found(what: str, *, field: str | None = None) -> ServiceError:
    """The answer for an id that does not exist *or* is outside the caller's scope (the two
    must look the same)."""
    return ServiceError.of(CommonErrorCode.NOT_FOUND, f"{what} not found", field=field)


# Every domain's code enum: the schema's `UserErrorCode` holds all their members.
ALL_ERROR_CODES: tuple[type[StrEnum], ...] = (
    CommonErrorCode,
    FleetErrorCode,
    HealthErrorCode,
    LedgerErrorCode,
    IdentityErrorCode,
    AnalyticsErrorCode,
    AlertErrorCode,
    WebhookErrorCode,
    AuditErrorCode,
)
