"""The permission table: every root GraphQL field (operation) and who may call it.

`graph.schema` wraps each Query, Mutation and Subscription field with `authorize` at schema
build time and refuses to build when a field has no entry here, so a new operation cannot
ship unprotected. Data scoping (which shops and machines) is applied separately by the
`Scope` every data function requires.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth.errors import AuthenticationError, PermissionDenied
from auth.principal import Principal, PrincipalKind
from models.identity import Role


@dataclass(frozen=True)
class Rule:
    """Who may call an operation: anyone (`public`), users with one of `roles`, API keys."""

    roles: frozenset[Role] = frozenset()
    api_keys: bool = False
    public: bool = False


ALL_ROLES = frozenset(Role)
ADMINS = frozenset({Role.ORG_ADMIN})
KEY_MANAGERS = frozenset({Role.ORG_ADMIN, Role.SHOP_MANAGER})

PERMISSIONS: dict[str, Rule] = {
    # identity
    "Mutation.login": Rule(public=True),
    "Query.me": Rule(roles=ALL_ROLES),
    "Query.organization": Rule(roles=ALL_ROLES),
    # shops and machines
    "Query.shops": Rule(roles=ALL_ROLES),
    "Query.shop": Rule(roles=ALL_ROLES),
    "Query.machine": Rule(roles=ALL_ROLES),
    "Mutation.createShop": Rule(roles=ADMINS),
    "Mutation.registerMachine": Rule(roles=ADMINS),
    # API keys: managers may manage keys of their own shops
    "Mutation.createApiKey": Rule(roles=KEY_MANAGERS),
    "Mutation.revokeApiKey": Rule(roles=KEY_MANAGERS),
    # cash
    "Query.inventory": Rule(roles=ALL_ROLES),
    "Query.transactions": Rule(roles=ALL_ROLES),
    "Query.verifyMachineChain": Rule(roles=ADMINS),
    "Mutation.ingestTransactions": Rule(api_keys=True),
    # analytics (read-only, scoped by the caller's Scope)
    "Query.overview": Rule(roles=ALL_ROLES),
    "Query.cashFlow": Rule(roles=ALL_ROLES),
    "Query.denominationBreakdown": Rule(roles=ALL_ROLES),
    "Query.replenishmentForecast": Rule(roles=ALL_ROLES),
}


def authorize(principal: Principal | None, operation: str) -> None:
    """Raise unless `principal` may call `operation`; unknown operations are always denied."""
    rule = PERMISSIONS.get(operation)
    if rule is None:
        raise PermissionDenied(f"operation {operation} is not permitted")
    if rule.public:
        return
    if principal is None:
        raise AuthenticationError("authentication required")
    if principal.kind is PrincipalKind.API_KEY:
        allowed = rule.api_keys
    else:
        allowed = principal.role in rule.roles
    if not allowed:
        raise PermissionDenied(f"not allowed to call {operation.split('.', 1)[1]}")
