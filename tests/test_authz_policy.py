"""The permission table as reviewed: pinned here and in docs/security.md, so widening an
operation is a deliberate change in several places (the matrix of `tests/test_authz_matrix.py`
proves that enforcement matches the table)."""

from __future__ import annotations

import re
from pathlib import Path

from auth.rbac import PERMISSIONS


def test_auditor_cannot_write_anything() -> None:
    """AUDITOR is read-only: no mutation rule lists it."""
    for operation, rule in PERMISSIONS.items():
        if operation.startswith("Mutation.") and not rule.public:
            assert "AUDITOR" not in {r.value for r in rule.roles}, operation


# The policy as an auditor reads it.
A, M, E, AU, K = "ORG_ADMIN", "SHOP_MANAGER", "EMPLOYEE", "AUDITOR", "API_KEY"
POLICY: dict[str, set[str] | str] = {
    "Mutation.login": "public",
    "Mutation.refreshSession": "public",
    "Mutation.logout": "public",
    "Mutation.acceptInvite": "public",
    "Query.me": {A, M, E, AU},
    "Query.organization": {A, M, E, AU},
    "Query.users": {A, AU},
    "Mutation.createUser": {A},
    "Mutation.setUserAccess": {A},
    "Mutation.deactivateUser": {A},
    "Query.shops": {A, M, E, AU},
    "Query.shop": {A, M, E, AU},
    "Query.machine": {A, M, E, AU},
    "Mutation.createShop": {A},
    "Mutation.registerMachine": {A},
    "Mutation.updateShop": {A},
    "Mutation.updateMachine": {A},
    "Mutation.moveMachine": {A},
    "Mutation.decommissionMachine": {A},
    "Mutation.updateHealthSettings": {A},
    "Mutation.reportMachineTelemetry": {K},
    "Query.fleetHealth": {A, M, E, AU},
    "Query.apiKeys": {A, M, AU},
    "Mutation.createApiKey": {A, M},
    "Mutation.rotateApiKey": {A, M},
    "Mutation.revokeApiKey": {A, M},
    "Query.inventory": {A, M, E, AU},
    "Query.transactions": {A, M, E, AU},
    "Query.verifyMachineChain": {A, AU},
    "Query.overview": {A, M, E, AU},
    "Query.cashFlow": {A, M, E, AU},
    "Query.denominationBreakdown": {A, M, E, AU},
    "Query.replenishmentForecast": {A, M, E, AU},
    "Mutation.ingestTransactions": {K},
    "Query.securityEvents": {A, AU},
    "Query.verifySecurityLog": {A, AU},
    "Query.alerts": {A, M, E, AU},
    "Query.alert": {A, M, E, AU},
    "Query.alertRules": {A, AU},
    "Query.silences": {A, M, AU},
    "Mutation.acknowledgeAlert": {A, M, E},
    "Mutation.resolveAlert": {A, M},
    "Mutation.updateAlertRule": {A},
    "Mutation.createSilence": {A, M},
    "Mutation.expireSilence": {A, M},
    "Mutation.scheduleCollection": {A, M},
    "Subscription.alertsChanged": {A, M, E, AU},
    "Query.webhooks": {A, AU},
    "Query.webhookDeliveries": {A, AU},
    "Mutation.createWebhook": {A},
    "Mutation.updateWebhook": {A},
    "Mutation.rotateWebhookSecret": {A},
    "Mutation.deleteWebhook": {A},
    "Mutation.testWebhook": {A},
    "Query.auditCheckpoints": {A, AU},
    "Query.securityLogCheckpoints": {A, AU},
    "Query.auditPublicKeys": {A, AU},
    "Query.inclusionProof": {A, AU},
    "Query.consistencyProof": {A, AU},
    "Mutation.setAuditWitnesses": {A},
    "Mutation.cosignAuditCheckpoint": {A},
    "Download.auditExport": {A, AU},
    "Subscription.inventoryChanged": {A, M, E, AU, K},
    "Subscription.transactionsIngested": {A, M, E, AU, K},
    "Subscription.machineEvents": {A, M, E, AU, K},
}


def test_permission_table_matches_the_reviewed_policy() -> None:
    actual: dict[str, set[str] | str] = {}
    for operation, rule in PERMISSIONS.items():
        who = {r.value for r in rule.roles} | ({K} if rule.api_keys else set())
        actual[operation] = "public" if rule.public else who
    assert actual == POLICY


def test_docs_permission_table_matches_the_code() -> None:
    """docs/security.md shows the table an auditor reads; it must be the enforced one."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    rows = {}
    for match in re.finditer(
        r"^\| `([A-Za-z]+\.[A-Za-z]+)` \| ([^|]+) \| ([A-Z]+) \|$", docs, re.M
    ):
        operation, who, scope = match.groups()
        rows[operation] = (who.strip(), scope)
    expected_rows = {}
    for operation, rule in PERMISSIONS.items():
        names = sorted([r.value for r in rule.roles] + (["API key"] if rule.api_keys else []))
        expected_rows[operation] = ("anyone" if rule.public else ", ".join(names), rule.scope.name)
    assert rows == expected_rows
