"""A witness on the customer's side cosigns checkpoints only after checking they extend what
it cosigned before; its cosignatures travel in the bundles; a rewrite makes it raise an alert
and refuse. The security log gets checkpoints and a verify path that uses them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cli.witness import Witness
from models.audit import AuditLogHead
from models.identity import Role
from models.security_log import SecurityEvent
from resolvers.audit.canonical import chain_hash
from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    Signer,
    format_verifier_key,
    open_note,
    parse_note,
    signature_line,
)
from resolvers.identity.security_log import SECURITY_CHAINED_FIELDS
from tests.audit_support import (
    checkpoint,
    checkpoints,
    export,
    rebuild_tree,
    relink,
    transactions,
    verified,
)
from tests.factories import PASSWORD, Factory, Tenant, gql, gql_data, tx

WITNESS = Signer("witness.customer.example", ALG_COSIGNATURE_V1, hashlib.sha256(b"w").digest())
REGISTER = """mutation($k: [String!]!) { setAuditWitnesses(input: {verifierKeys: $k}) {
  witnessKeys { verifierKey role } userErrors { field code message } } }"""


async def test_a_witness_cosigns_consistent_checkpoints_and_alerts_on_a_rewrite(
    factory: Factory, tmp_path: Path
) -> None:
    # given: an organization that registered its witness, one checkpoint of size 3
    tenant = await factory.tenant()
    vkey = format_verifier_key(WITNESS.verifier())
    registered = await gql_data(factory.client, REGISTER, {"k": [vkey]}, token=tenant.admin_token)
    assert registered["setAuditWitnesses"]["witnessKeys"] == [
        {"verifierKey": vkey, "role": "WITNESS"}
    ]
    await factory.ingest(tenant, [tx(1), tx(2), tx(3)])
    await checkpoint(factory.settings, tenant)
    witness = Witness(
        factory.client, signer=WITNESS, state_path=tmp_path / "witness.json",
        email=tenant.admin.email, password=PASSWORD, clock=lambda: 1_800_000_000,
    )  # fmt: skip
    # when / then: it cosigns, and again after the log grew consistently
    first = await witness.run_round()
    assert (first.cosigned, first.alerts) == ([f"{tenant.machine_id}@3"], [])
    await factory.ingest(tenant, [tx(4), tx(5)])
    await checkpoint(factory.settings, tenant)
    second = await witness.run_round()
    assert (second.cosigned, second.alerts) == ([f"{tenant.machine_id}@5"], [])
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id, "size": 5})
    opened = open_note(doc["note"], [WITNESS.verifier()])
    assert [s.timestamp for s in opened.verified] == [1_800_000_000]
    # and the bundle carries the cosignatures, which verify with the witness key
    report = verified(await export(factory.settings, tenant), factory.settings, witness_keys=[vkey])
    assert report.ok, report
    # when the history is rewritten and re-signed by an insider
    await transactions().update_many({"org_id": tenant.org.id}, {"$set": {"amount": 1}})
    docs = await transactions().find({"org_id": tenant.org.id}).sort("chain_position").to_list()
    await _resign_rewritten(factory, tenant, docs)
    third = await witness.run_round()
    # then it refuses and raises the alert with both checkpoints as evidence
    assert third.cosigned == []
    (alert,) = third.alerts
    assert "does not extend the cosigned size 5" in alert
    assert len(parse_note(doc["note"]).signatures) == 2


async def _resign_rewritten(factory: Factory, tenant: Tenant, docs: list[dict]) -> None:
    """The insider's rewrite: one more record, links, hashes and tree rebuilt, the log head
    dropped so the service signs the rewritten tree."""
    docs.append({k: v for k, v in docs[-1].items() if k != "_id"} | {"seq": 6, "chain_position": 6})
    await relink(tenant, docs)
    await rebuild_tree(tenant, docs)
    await AuditLogHead.get_pymongo_collection().delete_many({"machine_id": tenant.machines[0].id})
    run = await checkpoint(factory.settings, tenant)
    assert [cp.size for cp in run.stored if cp.log.machine_id] == [6]


async def test_a_cosignature_by_an_unregistered_key_is_refused(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(1)])
    await checkpoint(factory.settings, tenant)
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id})
    line = signature_line(parse_note(doc["note"]).text, WITNESS, timestamp=1)
    body = await gql(
        factory.client,
        "mutation($i: CosignAuditCheckpointInput!) { cosignAuditCheckpoint(input: $i) "
        "{ userErrors { field code } } }",
        {"i": {"machineId": tenant.machine_id, "size": 1, "cosignature": line}},
        token=tenant.admin_token,
    )
    assert body["data"]["cosignAuditCheckpoint"]["userErrors"] == [
        {"field": "input.cosignature", "code": "BAD_COSIGNATURE"}
    ]
    bad = await gql(factory.client, REGISTER, {"k": ["not a key"]}, token=tenant.admin_token)
    assert bad["data"]["setAuditWitnesses"]["userErrors"][0]["field"] == "input.verifierKeys[0]"


async def test_the_security_log_is_checkpointed_and_tampering_is_named(factory: Factory) -> None:
    tenant = await factory.tenant()
    _, auditor = await factory.user(tenant, Role.AUDITOR, [])
    await checkpoint(factory.settings, tenant)
    query = "{ verifySecurityLog { ok brokenPosition checkpointSize checkpointsChecked reason } }"
    page = "{ securityLogCheckpoints(first: 5) { edges { node { size machineId origin } } } }"
    listed = (await gql_data(factory.client, page, token=auditor))["securityLogCheckpoints"]
    (edge,) = listed["edges"]
    assert edge["node"]["machineId"] is None
    assert edge["node"]["origin"].endswith(f"/security/{tenant.org.id}")
    size = edge["node"]["size"]
    clean = (await gql_data(factory.client, query, token=auditor))["verifySecurityLog"]
    assert (clean["ok"], clean["checkpointSize"], clean["checkpointsChecked"]) == (True, size, 1)
    # an event rewritten with its own hash recomputed: the log still holds the original leaf
    events = SecurityEvent.get_pymongo_collection()
    event = await events.find_one({"org_id": tenant.org.id, "position": 1})
    event["details"] = {"note": "rewritten"}
    event["hash"] = chain_hash(event, SECURITY_CHAINED_FIELDS)
    await events.replace_one({"_id": event["_id"]}, event)
    broken = (await gql_data(factory.client, query, token=auditor))["verifySecurityLog"]
    assert (broken["ok"], broken["brokenPosition"]) == (False, 1)
    assert "leaf" in broken["reason"]
