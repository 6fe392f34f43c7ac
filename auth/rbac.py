"""The permission table: every root GraphQL field (operation) and who may call it, and the
authenticated download routes (`Download.*`).

`graph.schema` wraps each Query, Mutation and Subscription field with `authorize` at schema
build time and refuses to build when a field has no entry here, so a new operation cannot
ship unprotected. Data scoping (which shops and machines) is applied separately by the
`Scope` every data function requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.errors import AuthenticationError, PermissionDenied
from auth.principal import Principal, PrincipalKind
from models.identity import Role


class ScopeRule(StrEnum):
    """Which data an allowed caller reaches (applied by the `Scope` data functions take)."""

    NONE = "none: the operation carries its own credential (password, refresh/invite token)"
    CALLER = (
        "caller's scope: whole org for ORG_ADMIN/AUDITOR, assigned shops (and machines), "
        "a key's shop (and machines)"
    )
    ORGANIZATION = "the caller's whole organization"
    KEY = "the key's shop and machines"


@dataclass(frozen=True)
class Rule:
    """Who may call an operation: anyone (`public`), users with one of `roles`, API keys;
    `scope` documents which data the call can reach."""

    roles: frozenset[Role] = frozenset()
    api_keys: bool = False
    public: bool = False
    scope: ScopeRule = ScopeRule.CALLER


ALL_ROLES = frozenset(Role)
ADMINS = frozenset({Role.ORG_ADMIN})
ADMINS_AND_AUDITORS = frozenset({Role.ORG_ADMIN, Role.AUDITOR})
KEY_MANAGERS = frozenset({Role.ORG_ADMIN, Role.SHOP_MANAGER})
KEY_READERS = frozenset({Role.ORG_ADMIN, Role.SHOP_MANAGER, Role.AUDITOR})
ACKNOWLEDGERS = frozenset({Role.ORG_ADMIN, Role.SHOP_MANAGER, Role.EMPLOYEE})

# AUDITOR is read-only: it appears in query rules only, never in a mutation rule.
PERMISSIONS: dict[str, Rule] = {
    # sessions
    "Mutation.login": Rule(public=True, scope=ScopeRule.NONE),
    "Mutation.refreshSession": Rule(public=True, scope=ScopeRule.NONE),
    "Mutation.logout": Rule(public=True, scope=ScopeRule.NONE),
    "Mutation.acceptInvite": Rule(public=True, scope=ScopeRule.NONE),
    # identity
    "Query.me": Rule(roles=ALL_ROLES),
    "Query.organization": Rule(roles=ALL_ROLES),
    "Query.users": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Mutation.createUser": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.setUserAccess": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.deactivateUser": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    # shops and machines
    "Query.shops": Rule(roles=ALL_ROLES),
    "Query.shop": Rule(roles=ALL_ROLES),
    "Query.machine": Rule(roles=ALL_ROLES),
    "Mutation.createShop": Rule(roles=ADMINS),
    "Mutation.registerMachine": Rule(roles=ADMINS),
    "Mutation.updateShop": Rule(roles=ADMINS),
    "Mutation.updateMachine": Rule(roles=ADMINS),
    "Mutation.moveMachine": Rule(roles=ADMINS),
    "Mutation.decommissionMachine": Rule(roles=ADMINS),
    "Mutation.updateHealthSettings": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    # machine health: the local system reports, everyone in scope reads
    "Mutation.reportMachineTelemetry": Rule(api_keys=True, scope=ScopeRule.KEY),
    "Query.fleetHealth": Rule(roles=ALL_ROLES),
    # alerts: everyone reads their scope's alerts and may acknowledge them; managers resolve
    # and silence in their shops; rules are the organization's
    "Query.alerts": Rule(roles=ALL_ROLES),
    "Query.alert": Rule(roles=ALL_ROLES),
    "Query.alertRules": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Query.silences": Rule(roles=KEY_READERS),
    "Mutation.acknowledgeAlert": Rule(roles=ACKNOWLEDGERS),
    "Mutation.resolveAlert": Rule(roles=KEY_MANAGERS),
    "Mutation.updateAlertRule": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.createSilence": Rule(roles=KEY_MANAGERS),
    "Mutation.expireSilence": Rule(roles=KEY_MANAGERS),
    "Mutation.scheduleCollection": Rule(roles=KEY_MANAGERS),
    # API keys: managers may manage keys of their own shops
    "Query.apiKeys": Rule(roles=KEY_READERS),
    "Mutation.createApiKey": Rule(roles=KEY_MANAGERS),
    "Mutation.rotateApiKey": Rule(roles=KEY_MANAGERS),
    "Mutation.revokeApiKey": Rule(roles=KEY_MANAGERS),
    # cash
    "Query.inventory": Rule(roles=ALL_ROLES),
    "Query.transactions": Rule(roles=ALL_ROLES),
    "Query.verifyMachineChain": Rule(roles=ADMINS_AND_AUDITORS),
    "Mutation.ingestTransactions": Rule(api_keys=True, scope=ScopeRule.KEY),
    # security audit log
    "Query.securityEvents": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Query.verifySecurityLog": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    # verifiable audit logs (docs/audit.md); witnesses are registered and cosign as an admin
    "Query.auditCheckpoints": Rule(roles=ADMINS_AND_AUDITORS),
    "Query.securityLogCheckpoints": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Query.auditPublicKeys": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Query.inclusionProof": Rule(roles=ADMINS_AND_AUDITORS),
    "Query.consistencyProof": Rule(roles=ADMINS_AND_AUDITORS),
    "Mutation.setAuditWitnesses": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.cosignAuditCheckpoint": Rule(roles=ADMINS),
    "Download.auditExport": Rule(roles=ADMINS_AND_AUDITORS),  # GET /audit/export
    # live view: every role, scoped to what the principal may see; API keys (a shop's
    # dashboard or local system) see their shop/machines
    "Subscription.inventoryChanged": Rule(roles=ALL_ROLES, api_keys=True),
    "Subscription.transactionsIngested": Rule(roles=ALL_ROLES, api_keys=True),
    "Subscription.machineEvents": Rule(roles=ALL_ROLES, api_keys=True),
    "Subscription.alertsChanged": Rule(roles=ALL_ROLES),
    # webhooks: the organization's; admins manage, auditors read, API keys never
    "Query.webhooks": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Query.webhookDeliveries": Rule(roles=ADMINS_AND_AUDITORS, scope=ScopeRule.ORGANIZATION),
    "Mutation.createWebhook": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.updateWebhook": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.rotateWebhookSecret": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.deleteWebhook": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    "Mutation.testWebhook": Rule(roles=ADMINS, scope=ScopeRule.ORGANIZATION),
    # analytics (read-only, scoped by the caller's Scope)
    "Query.overview": Rule(roles=ALL_ROLES),
    "Query.cashFlow": Rule(roles=ALL_ROLES),
    "Query.denominationBreakdown": Rule(roles=ALL_ROLES),
    "Query.replenishmentForecast": Rule(roles=ALL_ROLES),
}


def is_route(operation: str) -> bool:
    """An authenticated download route (`Download.*`), not a GraphQL root field."""
    return operation.startswith("Download.")


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
