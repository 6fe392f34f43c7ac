"""The authorization matrix, generated from `auth.rbac.PERMISSIONS`.

For every Query and Mutation field, every actor (each role, an API key, anonymous) calls the
operation on targets inside its scope, outside its scope in its organization, and in another
organization. Expected: not permitted by the table -> FORBIDDEN/UNAUTHENTICATED; permitted and
in scope -> the data; permitted but out of scope or foreign -> indistinguishable from "does
not exist" (null, empty, NOT_FOUND). Nested edges and id lookups are covered below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from auth.rbac import PERMISSIONS
from config import Settings
from graph.schema import build_schema, root_operations
from models.audit import AuditCheckpoint
from models.ledger import Transaction
from resolvers.audit.note import format_verifier_key, parse_note, signature_line
from tests.authz_world import (
    ACTORS,
    KEY_TARGETS,
    MACHINE_TARGETS,
    SHOP_TARGETS,
    USER_TARGETS,
    VISIBLE,
    WEBHOOK_TARGETS,
    WITNESS,
    World,
    build_world,
)
from tests.factories import PASSWORD, Factory, gql, heartbeat, tx

Vars = Callable[[World, str | None], Awaitable[dict[str, Any]]]
Found = Callable[[dict[str, Any], World, str | None], bool]


@dataclass(frozen=True)
class Case:
    query: str
    variables: Vars
    found: Found
    targets: tuple[str | None, ...] = (None,)


async def no_vars(world: World, target: str | None) -> dict[str, Any]:
    return {}


def ids_var(name: str, *, as_list: bool = False) -> Vars:
    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        value = world.ids[target]
        return {name: [value] if as_list else value}

    return make


def key_var(world_key: str = "id") -> Vars:
    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        return {world_key: await world.fresh_key(target)}

    return make


async def webhook_var(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"id": await world.fresh_webhook(target)}


def user_var(world: World, target: str | None) -> Awaitable[dict[str, Any]]:
    async def make() -> dict[str, Any]:
        assert target is not None
        return {"id": await world.fresh_user(target)}

    return make()


def window_vars(name: str) -> Vars:
    """The target's id plus a time window around every record the world ingested."""

    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        now = datetime.now(UTC)
        return {
            name: [world.ids[target]],
            "from": (now - timedelta(days=2)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        }

    return make


def payload(field: str, inner: str) -> Found:
    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        result = data[field]
        codes = {e["code"] for e in result.get("userErrors", [])}
        assert codes <= {"NOT_FOUND", "MACHINE_NOT_COVERED"}, result
        return result[inner] is not None and not codes

    return found


async def ingest_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {
        "input": {
            "machineId": world.ids[target],
            "idempotencyKey": uuid.uuid4().hex,
            "transactions": [tx(next(world.seqs))],
        }
    }


def ingest_found(data: dict[str, Any], world: World, target: str | None) -> bool:
    result = data["ingestTransactions"]
    codes = {e["code"] for e in result["userErrors"]}
    assert codes <= {"NOT_FOUND", "MACHINE_NOT_COVERED"}, result
    return result["accepted"] == 1


async def fresh_machine_vars(world: World, target: str | None) -> dict[str, Any]:
    """A new machine in the target shop, and (for moves) another shop of org A."""
    assert target is not None
    other = world.ids["S1"] if target == "S0" else world.ids["S0"]
    return {"m": await world.fresh_machine(target), "to": other}


async def telemetry_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    seq = next(world.seqs)
    return {
        "input": {
            "machineId": world.ids[target],
            "messages": [heartbeat(seq, event_id=uuid.uuid4().hex)],
        }
    }


def alert_vars(name: str, *, as_list: bool = False) -> Vars:
    """The id (or, for filters, the machine id) of a FIRING alert on the target machine."""

    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        if as_list:
            await world.alert(target)
            return {name: [world.ids[target]]}
        return {name: await world.alert(target)}

    return make


def alert_payload(field: str) -> Found:
    """Found: the transition was made, or refused because an earlier call of the matrix
    already moved the alert on (INVALID_TRANSITION: it was reached)."""

    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        result = data[field]
        codes = {e["code"] for e in result["userErrors"]}
        assert codes <= {"NOT_FOUND", "INVALID_TRANSITION"}, result
        return "INVALID_TRANSITION" in codes or (result["alert"] is not None and not codes)

    return found


async def silence_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"s": world.ids[target], "end": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}


async def fresh_silence_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"id": await world.fresh_silence(target)}


async def collection_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    now = datetime.now(UTC)
    return {
        "m": world.ids[target],
        "from": now.isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def login_vars(world: World, target: str | None) -> dict[str, Any]:
    return {"email": world.a.admin.email, "password": PASSWORD}


async def refresh_vars(world: World, target: str | None) -> dict[str, Any]:
    return {"t": "ccr_" + "x" * 43}


def is_org_a_listing(key: str, id_of: Callable[[dict[str, Any]], str]) -> Found:
    """A whole-organization listing: must hold org A's items and none of org B's."""

    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        return bool(data[key]) and all(id_of(item) != str(world.b.admin.id) for item in data[key])

    return found


CASES: dict[str, Case] = {
    "Query.me": Case(
        "{ me { id } }",
        no_vars,
        lambda d, w, t: d["me"]["id"] in {str(u.id) for u in w.users.values()},
    ),
    "Query.organization": Case(
        "{ organization { id } }",
        no_vars,
        lambda d, w, t: d["organization"]["id"] == str(w.a.org.id),
    ),
    "Query.users": Case("{ users { id } }", no_vars, is_org_a_listing("users", lambda u: u["id"])),
    "Query.shops": Case(
        "query($ids: [ID!]) { shops(ids: $ids) { id } }",
        ids_var("ids", as_list=True),
        lambda d, w, t: [s["id"] for s in d["shops"]] == [w.ids[t]],
        SHOP_TARGETS,
    ),
    "Query.shop": Case(
        "query($id: ID!) { shop(id: $id) { id } }",
        ids_var("id"),
        lambda d, w, t: d["shop"] is not None and d["shop"]["id"] == w.ids[t],
        SHOP_TARGETS,
    ),
    "Query.machine": Case(
        "query($id: ID!) { machine(id: $id) { id } }",
        ids_var("id"),
        lambda d, w, t: d["machine"] is not None and d["machine"]["id"] == w.ids[t],
        MACHINE_TARGETS,
    ),
    "Query.inventory": Case(
        "query($m: [ID!]) { inventory(machineIds: $m) { machines { machine { id } } } }",
        ids_var("m", as_list=True),
        lambda d, w, t: [m["machine"]["id"] for m in d["inventory"]["machines"]] == [w.ids[t]],
        MACHINE_TARGETS,
    ),
    "Query.transactions": Case(
        "query($m: [ID!]) { transactions(first: 5, filter: {machineIds: $m}) "
        "{ edges { node { machineId } } } }",
        ids_var("m", as_list=True),
        lambda d, w, t: (
            bool(d["transactions"]["edges"])
            and {e["node"]["machineId"] for e in d["transactions"]["edges"]} == {w.ids[t]}
        ),
        MACHINE_TARGETS,
    ),
    "Query.verifyMachineChain": Case(
        "query($id: ID!) { verifyMachineChain(machineId: $id) { ok } }",
        ids_var("id"),
        lambda d, w, t: d["verifyMachineChain"]["ok"] is True,
        MACHINE_TARGETS,
    ),
    "Query.apiKeys": Case(
        "query($s: [ID!]) { apiKeys(shopIds: $s) { shopId } }",
        ids_var("s", as_list=True),
        lambda d, w, t: bool(d["apiKeys"]) and {k["shopId"] for k in d["apiKeys"]} == {w.ids[t]},
        SHOP_TARGETS,
    ),
    "Query.securityEvents": Case(
        "{ securityEvents(first: 100) { edges { node { targetId } } } }",
        no_vars,
        lambda d, w, t: (
            bool(d["securityEvents"]["edges"])
            and all(
                e["node"]["targetId"] != str(w.b.admin.id) for e in d["securityEvents"]["edges"]
            )
        ),
    ),
    "Query.verifySecurityLog": Case(
        "{ verifySecurityLog { ok checked } }",
        no_vars,
        lambda d, w, t: d["verifySecurityLog"]["ok"] and d["verifySecurityLog"]["checked"] > 0,
    ),
    "Query.overview": Case(
        "{ overview { cashHeld { value } topShops { shop { id } } } }",
        no_vars,
        lambda d, w, t: (
            bool(d["overview"]["topShops"])
            and all(s["shop"]["id"] != w.ids["SB"] for s in d["overview"]["topShops"])
        ),
    ),
    "Query.cashFlow": Case(
        "query($m: [ID!], $from: DateTime!, $to: DateTime!) { cashFlow(from: $from, to: $to, "
        "interval: DAY, groupBy: MACHINE, machineIds: $m) { series { key } } }",
        window_vars("m"),
        lambda d, w, t: [s["key"] for s in d["cashFlow"]["series"]] == [w.ids[t]],
        MACHINE_TARGETS,
    ),
    "Query.denominationBreakdown": Case(
        "query($m: [ID!]) { denominationBreakdown(machineIds: $m) { currencies { totalPieces } } }",
        ids_var("m", as_list=True),
        lambda d, w, t: any(c["totalPieces"] for c in d["denominationBreakdown"]["currencies"]),
        MACHINE_TARGETS,
    ),
    "Query.replenishmentForecast": Case(
        "query($s: [ID!]) { replenishmentForecast(shopIds: $s) { machines { shop { id } } } }",
        ids_var("s", as_list=True),
        lambda d, w, t: (
            bool(d["replenishmentForecast"]["machines"])
            and {m["shop"]["id"] for m in d["replenishmentForecast"]["machines"]} == {w.ids[t]}
        ),
        SHOP_TARGETS,
    ),
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
        lambda w, t: _const({"code": uuid.uuid4().hex[:12]}),
        payload("createShop", "shop"),
    ),
    "Mutation.registerMachine": Case(
        "mutation($s: ID!, $serial: String!) { registerMachine(input: "
        "{shopId: $s, serial: $serial, model: CI_10}) { machine { id } userErrors { code } } }",
        lambda w, t: _const({"s": w.ids[t], "serial": uuid.uuid4().hex}),
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
        lambda w, t: _const({"email": f"new-{uuid.uuid4().hex[:10]}@example.com"}),
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
    "Query.fleetHealth": Case(
        "query($s: [ID!]) { fleetHealth(shopIds: $s) { machines attention { machine { id } } } }",
        ids_var("s", as_list=True),
        lambda d, w, t: d["fleetHealth"]["machines"] > 0,
        SHOP_TARGETS,
    ),
    "Query.alerts": Case(
        "query($m: [ID!]) { alerts(filter: {machineIds: $m}, first: 5) { edges { node { id } } } }",
        alert_vars("m", as_list=True),
        lambda d, w, t: len(d["alerts"]["edges"]) > 0,
        MACHINE_TARGETS,
    ),
    "Query.alert": Case(
        "query($id: ID!) { alert(id: $id) { id } }",
        alert_vars("id"),
        lambda d, w, t: d["alert"] is not None,
        MACHINE_TARGETS,
    ),
    "Query.alertRules": Case(
        "{ alertRules { settings { rule } customized } }",
        no_vars,
        lambda d, w, t: len(d["alertRules"]) > 0,
    ),
    "Query.silences": Case(
        "{ silences(includeEnded: true) { id } }",
        no_vars,
        lambda d, w, t: isinstance(d["silences"], list),
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
    "Query.webhooks": Case(
        "{ webhooks { id } }",
        no_vars,
        lambda d, w, t: (
            w.ids["WA"] in {h["id"] for h in d["webhooks"]}
            and w.ids["WB"] not in {h["id"] for h in d["webhooks"]}
        ),
    ),
    "Query.webhookDeliveries": Case(
        "query($id: ID!) { webhookDeliveries(webhookId: $id, first: 5) "
        "{ edges { node { id } } pageInfo { hasNextPage } } }",
        ids_var("id"),
        lambda d, w, t: d["webhookDeliveries"] is not None,
        WEBHOOK_TARGETS,
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
}


async def _transaction_of(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    doc = await Transaction.get_pymongo_collection().find_one(
        {"machine_id": ObjectId(world.ids[target])}
    )
    return {"t": str(doc["_id"])}


async def _cosign_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    doc = await AuditCheckpoint.get_pymongo_collection().find_one(
        {"machine_id": ObjectId(world.ids[target])}
    )
    line = signature_line(parse_note(doc["note"]).text, WITNESS, timestamp=1_800_000_000)
    return {"i": {"machineId": world.ids[target], "size": doc["size"], "cosignature": line}}


AUDIT_CASES: dict[str, Case] = {
    "Query.auditCheckpoints": Case(
        "query($id: ID!) { auditCheckpoints(machineId: $id) { edges { node { machineId } } } }",
        ids_var("id"),
        lambda d, w, t: (
            [e["node"]["machineId"] for e in d["auditCheckpoints"]["edges"]] == [w.ids[t]]
        ),
        MACHINE_TARGETS,
    ),
    "Query.securityLogCheckpoints": Case(
        "{ securityLogCheckpoints { edges { node { origin } } } }",
        no_vars,
        lambda d, w, t: (
            bool(d["securityLogCheckpoints"]["edges"])
            and all(
                e["node"]["origin"].endswith(str(w.a.org.id))
                for e in d["securityLogCheckpoints"]["edges"]
            )
        ),
    ),
    "Query.auditPublicKeys": Case(
        "{ auditPublicKeys { role } }",
        no_vars,
        lambda d, w, t: {k["role"] for k in d["auditPublicKeys"]} == {"LOG", "WITNESS"},
    ),
    "Query.inclusionProof": Case(
        "query($t: ID!) { inclusionProof(transactionId: $t) { machineId } }",
        _transaction_of,
        lambda d, w, t: d["inclusionProof"]["machineId"] == w.ids[t],
        MACHINE_TARGETS,
    ),
    "Query.consistencyProof": Case(
        "query($id: ID!) { consistencyProof(machineId: $id, fromSize: 1, toSize: 1) "
        "{ machineId hashes } }",
        ids_var("id"),
        lambda d, w, t: d["consistencyProof"] == {"machineId": w.ids[t], "hashes": []},
        MACHINE_TARGETS,
    ),
    "Mutation.setAuditWitnesses": Case(
        "mutation($k: [String!]!) { setAuditWitnesses(input: {verifierKeys: $k}) "
        "{ witnessKeys { role } userErrors { code } } }",
        lambda w, t: _const({"k": [format_verifier_key(WITNESS.verifier())]}),
        payload("setAuditWitnesses", "witnessKeys"),
    ),
    "Mutation.cosignAuditCheckpoint": Case(
        "mutation($i: CosignAuditCheckpointInput!) { cosignAuditCheckpoint(input: $i) "
        "{ checkpoint { size } userErrors { code } } }",
        _cosign_vars,
        payload("cosignAuditCheckpoint", "checkpoint"),
        MACHINE_TARGETS,
    ),
}
CASES.update(AUDIT_CASES)


async def _const(value: dict[str, Any]) -> dict[str, Any]:
    return value


@pytest.fixture(scope="module")
async def world(client: Any, settings: Settings, database: Any) -> World:
    return await build_world(Factory(client=client, settings=settings))


@pytest.fixture(scope="module")
async def quiet_world(client: Any, settings: Settings, database: Any) -> World:
    """A world no mutation of the matrix touches (the nested-edge test counts everything)."""
    return await build_world(Factory(client=client, settings=settings))


def expected(operation: str, actor: str, target: str | None) -> str:
    rule = PERMISSIONS[operation]
    if rule.public:
        return "ok"
    permitted = rule.api_keys if actor == "API_KEY" else actor in {r.value for r in rule.roles}
    if actor == "ANONYMOUS" or not permitted:
        return "denied"
    return "ok" if target is None or target in VISIBLE[actor] else "hidden"


def outcome(body: dict[str, Any], case: Case, world: World, target: str | None) -> str:
    if body.get("errors"):
        code = body["errors"][0]["extensions"]["code"]
        if code in {"FORBIDDEN", "UNAUTHENTICATED"}:
            return "denied"
        return "hidden" if code == "NOT_FOUND" else f"error {code}: {body['errors'][0]}"
    return "ok" if case.found(body["data"], world, target) else "hidden"


def test_every_query_and_mutation_has_a_matrix_case() -> None:
    operations = {
        op
        for op in root_operations(build_schema(Settings(app_env="test")))
        if not op.startswith("Subscription.")
    }
    assert operations == set(CASES), "add a Case for every new operation"


@pytest.mark.parametrize("operation", sorted(CASES))
async def test_matrix(operation: str, world: World) -> None:
    case = CASES[operation]
    mismatches = []
    for actor in ACTORS:
        for target in case.targets:
            variables = await case.variables(world, target)
            body = await gql(world.factory.client, case.query, variables, **world.auth(actor))
            got = outcome(body, case, world, target)
            want = expected(operation, actor, target)
            if got != want:
                mismatches.append(f"{actor} on {target}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


NESTED = """
{
  shops { id machines { id shop { id machines { id } } inventory { machine { id } } } }
  inventory { machines { machine { id shop { id machines { id } } } } }
  transactions(first: 100) { edges { node { machineId shopId } } }
}
"""


@pytest.mark.parametrize("actor", ["ORG_ADMIN", "SHOP_MANAGER", "EMPLOYEE", "AUDITOR"])
async def test_nested_edges_never_reach_past_the_scope(actor: str, quiet_world: World) -> None:
    """Shop.machines, Machine.shop, Machine.inventory, InventoryReport and transactions:
    whatever path a query takes, only in-scope machines and shops appear."""
    world = quiet_world
    body = await gql(world.factory.client, NESTED, **world.auth(actor))
    assert "errors" not in body, body
    seen_machines: set[str] = set()
    seen_shops: set[str] = set()

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif key in {"machineId"}:
            seen_machines.add(node)
        elif key == "shopId":
            seen_shops.add(node)

    def collect(node: Any, parent: str | None = None) -> None:
        if isinstance(node, dict):
            if "id" in node and parent in {"machines", "machine"}:
                seen_machines.add(node["id"])
            if "id" in node and parent in {"shops", "shop"}:
                seen_shops.add(node["id"])
            for k, v in node.items():
                collect(v, k)
        elif isinstance(node, list):
            for item in node:
                collect(item, parent)

    collect(body["data"])
    walk(body["data"])
    by_id = {v: k for k, v in world.ids.items()}
    visible = VISIBLE[actor]
    assert {by_id.get(m, m) for m in seen_machines} == {
        t for t in ("M00", "M01", "M10", "M11") if t in visible
    }
    assert {by_id.get(s, s) for s in seen_shops} == {t for t in ("S0", "S1") if t in visible}


async def test_auditor_cannot_write_anything(world: World) -> None:
    """AUDITOR is read-only: no mutation rule lists it."""
    for operation, rule in PERMISSIONS.items():
        if operation.startswith("Mutation.") and not rule.public:
            assert "AUDITOR" not in {r.value for r in rule.roles}, operation


# The policy as an auditor reads it. The matrix above proves enforcement matches the table;
# this pins the table itself, so widening an operation is a deliberate two-place change.
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
