"""The matrix cases of every root Mutation field (`tests/test_authz_matrix.py`)."""

from __future__ import annotations

import uuid

from resolvers.audit.note import format_verifier_key
from tests.authz_cases import (
    Case,
    alert_payload,
    alert_vars,
    collection_vars,
    const,
    cosign_vars,
    fresh_machine_vars,
    fresh_silence_vars,
    ids_var,
    ingest_found,
    ingest_vars,
    key_var,
    login_vars,
    no_vars,
    payload,
    refresh_vars,
    silence_vars,
    telemetry_vars,
    user_var,
    webhook_var,
)
from tests.authz_world import (
    KEY_TARGETS,
    MACHINE_TARGETS,
    SHOP_TARGETS,
    USER_TARGETS,
    WEBHOOK_TARGETS,
    WITNESS,
)

MUTATION_CASES: dict[str, Case] = {
    "Mutation.login": Case(
        "mutation($email: String!, $password: String!) "
        "{ login(email: $email, password: $password) { accessToken } }",
        login_vars,
        lambda d, w, t: d["login"]["accessToken"] is not None,
    ),
    "Mutation.refreshSession": Case(
        "mutation($t: String!) { refreshSession(refreshToken: $t) { userErrors { code } } }",
        refresh_vars,
        lambda d, w, t: d["refreshSession"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS",
    ),
    "Mutation.logout": Case(
        "mutation($t: String!) { logout(refreshToken: $t) { ok } }",
        refresh_vars,
        lambda d, w, t: d["logout"]["ok"] is True,
    ),
    "Mutation.acceptInvite": Case(
        'mutation($t: String!) { acceptInvite(token: $t, password: "long-enough-pass-1") '
        "{ userErrors { code } } }",
        refresh_vars,
        lambda d, w, t: d["acceptInvite"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS",
    ),
    "Mutation.createShop": Case(
        'mutation($code: String!) { createShop(input: {name: "Matrix", code: $code}) '
        "{ shop { id } userErrors { code } } }",
        lambda w, t: const({"code": uuid.uuid4().hex[:12]}),
        payload("createShop", "shop"),
    ),
    "Mutation.registerMachine": Case(
        "mutation($s: ID!, $serial: String!) { registerMachine(input: "
        "{shopId: $s, serial: $serial, model: CI_10}) { machine { id } userErrors { code } } }",
        lambda w, t: const({"s": w.ids[t], "serial": uuid.uuid4().hex}),
        payload("registerMachine", "machine"),
        SHOP_TARGETS,
    ),
    "Mutation.createApiKey": Case(
        'mutation($s: ID!) { createApiKey(input: {name: "m", shopId: $s}) '
        "{ apiKey { id } userErrors { code } } }",
        ids_var("s"),
        payload("createApiKey", "apiKey"),
        SHOP_TARGETS,
    ),
    "Mutation.rotateApiKey": Case(
        "mutation($id: ID!) { rotateApiKey(id: $id, overlapSeconds: 60) "
        "{ secret userErrors { code } } }",
        key_var(),
        payload("rotateApiKey", "secret"),
        KEY_TARGETS,
    ),
    "Mutation.revokeApiKey": Case(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code } } }",
        key_var(),
        payload("revokeApiKey", "apiKey"),
        KEY_TARGETS,
    ),
    "Mutation.createUser": Case(
        "mutation($email: String!) { createUser(input: {email: $email, password: "
        '"long-enough-pass-1", role: AUDITOR}) { user { id } userErrors { code } } }',
        lambda w, t: const({"email": f"new-{uuid.uuid4().hex[:10]}@example.com"}),
        payload("createUser", "user"),
    ),
    "Mutation.setUserAccess": Case(
        "mutation($id: ID!) { setUserAccess(id: $id, role: AUDITOR) "
        "{ user { id } userErrors { code } } }",
        user_var,
        payload("setUserAccess", "user"),
        USER_TARGETS,
    ),
    "Mutation.deactivateUser": Case(
        "mutation($id: ID!) { deactivateUser(id: $id) { user { id } userErrors { code } } }",
        user_var,
        payload("deactivateUser", "user"),
        USER_TARGETS,
    ),
    "Mutation.updateShop": Case(
        "mutation($s: ID!) { updateShop(input: {shopId: $s, openingHours: "
        '[{weekday: 1, opens: "08:00", closes: "20:00"}]}) { shop { id } userErrors { code } } }',
        ids_var("s"),
        payload("updateShop", "shop"),
        SHOP_TARGETS,
    ),
    "Mutation.updateMachine": Case(
        'mutation($m: ID!) { updateMachine(input: {machineId: $m, name: "matrix"}) '
        "{ machine { id } userErrors { code } } }",
        fresh_machine_vars,
        payload("updateMachine", "machine"),
        SHOP_TARGETS,
    ),
    "Mutation.moveMachine": Case(
        "mutation($m: ID!, $to: ID!) { moveMachine(input: {machineId: $m, shopId: $to}) "
        "{ machine { id } userErrors { code } } }",
        fresh_machine_vars,
        payload("moveMachine", "machine"),
        SHOP_TARGETS,
    ),
    "Mutation.decommissionMachine": Case(
        "mutation($m: ID!) { decommissionMachine(input: {machineId: $m}) "
        "{ machine { id } userErrors { code } } }",
        fresh_machine_vars,
        payload("decommissionMachine", "machine"),
        SHOP_TARGETS,
    ),
    "Mutation.updateHealthSettings": Case(
        "mutation { updateHealthSettings(input: {}) { organization { id } userErrors { code } } }",
        no_vars,
        payload("updateHealthSettings", "organization"),
    ),
    "Mutation.reportMachineTelemetry": Case(
        "mutation($input: ReportMachineTelemetryInput!) { reportMachineTelemetry(input: $input) "
        "{ accepted userErrors { code } } }",
        telemetry_vars,
        lambda d, w, t: (
            payload("reportMachineTelemetry", "accepted")(d, w, t)
            and d["reportMachineTelemetry"]["accepted"] == 1
        ),
        MACHINE_TARGETS,
    ),
    "Mutation.acknowledgeAlert": Case(
        "mutation($id: ID!) { acknowledgeAlert(id: $id) { alert { id } userErrors { code } } }",
        alert_vars("id"),
        alert_payload("acknowledgeAlert"),
        MACHINE_TARGETS,
    ),
    "Mutation.resolveAlert": Case(
        "mutation($id: ID!) { resolveAlert(id: $id) { alert { id } userErrors { code } } }",
        alert_vars("id"),
        alert_payload("resolveAlert"),
        MACHINE_TARGETS,
    ),
    "Mutation.updateAlertRule": Case(
        "mutation { updateAlertRule(input: {rule: NOTE_JAM, severity: WARNING}) "
        "{ rule { rule } userErrors { code } } }",
        no_vars,
        payload("updateAlertRule", "rule"),
    ),
    "Mutation.createSilence": Case(
        "mutation($s: ID!, $end: DateTime!) { createSilence(input: {shopIds: [$s], "
        'reason: "matrix", endsAt: $end}) { silence { id } userErrors { code } } }',
        silence_vars,
        payload("createSilence", "silence"),
        SHOP_TARGETS,
    ),
    "Mutation.expireSilence": Case(
        "mutation($id: ID!) { expireSilence(id: $id) { silence { id } userErrors { code } } }",
        fresh_silence_vars,
        payload("expireSilence", "silence"),
        SHOP_TARGETS,
    ),
    "Mutation.scheduleCollection": Case(
        "mutation($m: ID!, $from: DateTime!, $to: DateTime!) { scheduleCollection(input: "
        "{machineId: $m, from: $from, to: $to}) { collection { id } userErrors { code } } }",
        collection_vars,
        payload("scheduleCollection", "collection"),
        MACHINE_TARGETS,
    ),
    "Mutation.createWebhook": Case(
        # A public address written as a literal: accepted without a DNS lookup, never sent to.
        'mutation { createWebhook(input: {url: "https://93.184.215.14/hook", events: [FIRING]}) '
        "{ webhook { id } secret userErrors { code } } }",
        no_vars,
        payload("createWebhook", "secret"),
    ),
    "Mutation.updateWebhook": Case(
        "mutation($id: ID!) { updateWebhook(input: {id: $id, events: [FIRING, RESOLVED]}) "
        "{ webhook { id } userErrors { code } } }",
        ids_var("id"),
        payload("updateWebhook", "webhook"),
        WEBHOOK_TARGETS,
    ),
    "Mutation.rotateWebhookSecret": Case(
        "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 60) "
        "{ secret userErrors { code } } }",
        ids_var("id"),
        payload("rotateWebhookSecret", "secret"),
        WEBHOOK_TARGETS,
    ),
    "Mutation.deleteWebhook": Case(
        "mutation($id: ID!) { deleteWebhook(id: $id) { deletedWebhookId userErrors { code } } }",
        webhook_var,
        payload("deleteWebhook", "deletedWebhookId"),
        WEBHOOK_TARGETS,
    ),
    "Mutation.testWebhook": Case(
        "mutation($id: ID!) { testWebhook(id: $id) { delivery { id } userErrors { code } } }",
        ids_var("id"),
        payload("testWebhook", "delivery"),
        WEBHOOK_TARGETS,
    ),
    "Mutation.ingestTransactions": Case(
        "mutation($input: IngestTransactionsInput!) { ingestTransactions(input: $input) "
        "{ accepted userErrors { code } } }",
        ingest_vars,
        ingest_found,
        MACHINE_TARGETS,
    ),
    "Mutation.setAuditWitnesses": Case(
        "mutation($k: [String!]!) { setAuditWitnesses(input: {verifierKeys: $k}) "
        "{ witnessKeys { role } userErrors { code } } }",
        lambda w, t: const({"k": [format_verifier_key(WITNESS.verifier())]}),
        payload("setAuditWitnesses", "witnessKeys"),
    ),
    "Mutation.cosignAuditCheckpoint": Case(
        "mutation($i: CosignAuditCheckpointInput!) { cosignAuditCheckpoint(input: $i) "
        "{ checkpoint { size } userErrors { code } } }",
        cosign_vars,
        payload("cosignAuditCheckpoint", "checkpoint"),
        MACHINE_TARGETS,
    ),
}
