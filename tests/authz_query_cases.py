"""The matrix cases of every root Query field (`tests/test_authz_matrix.py`)."""

from __future__ import annotations

from tests.authz_cases import (
    Case,
    alert_vars,
    every,
    ids_var,
    is_org_a_listing,
    no_vars,
    transaction_vars,
    window_vars,
)
from tests.authz_world import MACHINE_TARGETS, SHOP_TARGETS, WEBHOOK_TARGETS

QUERY_CASES: dict[str, Case] = {
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
        lambda d, w, t: {e["node"]["machineId"] for e in d["transactions"]["edges"]} == {w.ids[t]},
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
        lambda d, w, t: {k["shopId"] for k in d["apiKeys"]} == {w.ids[t]},
        SHOP_TARGETS,
    ),
    "Query.securityEvents": Case(
        "{ securityEvents(first: 100) { edges { node { targetId } } } }",
        no_vars,
        lambda d, w, t: every(
            d["securityEvents"]["edges"], lambda e: e["node"]["targetId"] != str(w.b.admin.id)
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
        lambda d, w, t: every(d["overview"]["topShops"], lambda s: s["shop"]["id"] != w.ids["SB"]),
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
            {m["shop"]["id"] for m in d["replenishmentForecast"]["machines"]} == {w.ids[t]}
        ),
        SHOP_TARGETS,
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
        lambda d, w, t: every(
            d["securityLogCheckpoints"]["edges"],
            lambda e: e["node"]["origin"].endswith(str(w.a.org.id)),
        ),
    ),
    "Query.auditPublicKeys": Case(
        "{ auditPublicKeys { role } }",
        no_vars,
        lambda d, w, t: {k["role"] for k in d["auditPublicKeys"]} == {"LOG", "WITNESS"},
    ),
    "Query.inclusionProof": Case(
        "query($t: ID!) { inclusionProof(transactionId: $t) { machineId } }",
        transaction_vars,
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
}
