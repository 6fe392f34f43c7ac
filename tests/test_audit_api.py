"""What an auditor gets from the API: checkpoints, keys, proofs that verify against signed
roots, clear errors for sizes that cannot be proven, the download, and retention."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta

from models.identity import Role
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle_check import check_bundle
from resolvers.audit.checkpoint import parse_checkpoint
from resolvers.audit.keys import key_ring
from resolvers.audit.log_check import verify_machine_chain
from resolvers.audit.merkle import transaction_leaf_hash, verify_consistency, verify_inclusion
from resolvers.audit.note import parse_note
from tests.audit_support import export, logged_tenant, transactions, verified
from tests.factories import Factory, gql, gql_data, tx

CHECKPOINTS = """query($m: ID!, $first: Int!, $after: String) {
  auditCheckpoints(machineId: $m, first: $first, after: $after) {
    edges { cursor node { machineId size rootHash note keyId origin } }
    pageInfo { hasNextPage endCursor } } }"""
INCLUSION = """query($t: ID!, $s: Long) { inclusionProof(transactionId: $t, checkpointSize: $s) {
  chainPosition leafIndex treeSize transactionHash leafHash hashes checkpoint { size note } } }"""
CONSISTENCY = """query($m: ID!, $a: Long!, $b: Long!) {
  consistencyProof(machineId: $m, fromSize: $a, toSize: $b) {
    hashes fromCheckpoint { note } toCheckpoint { note } } }"""


def root_of(note: str) -> bytes:
    return parse_checkpoint(parse_note(note).text).root


def b64list(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


async def assert_consistent(factory: Factory, tenant, token: str, old: int, new: int) -> None:
    """The consistencyProof from size `old` to `new` verifies against the two checkpoints."""
    variables = {"m": tenant.machine_id, "a": old, "b": new}
    data = await gql_data(factory.client, CONSISTENCY, variables, token=token)
    proof = data["consistencyProof"]
    roots = root_of(proof["fromCheckpoint"]["note"]), root_of(proof["toCheckpoint"]["note"])
    assert verify_consistency(old, new, b64list(proof["hashes"]), *roots)


async def transaction_id(tenant, position: int) -> str:
    doc = await transactions().find_one({"org_id": tenant.org.id, "chain_position": position})
    return str(doc["_id"])


async def test_an_auditor_pages_checkpoints_and_reads_the_public_keys(factory: Factory) -> None:
    tenant = await logged_tenant(factory, [2, 2, 2])
    _, token = await factory.user(tenant, Role.AUDITOR, [])
    first = await gql_data(
        factory.client, CHECKPOINTS, {"m": tenant.machine_id, "first": 2}, token=token
    )
    page = first["auditCheckpoints"]
    assert [e["node"]["size"] for e in page["edges"]] == [6, 4]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql_data(
        factory.client,
        CHECKPOINTS,
        {"m": tenant.machine_id, "first": 2, "after": page["pageInfo"]["endCursor"]},
        token=token,
    )
    assert [e["node"]["size"] for e in rest["auditCheckpoints"]["edges"]] == [2]
    node = page["edges"][0]["node"]
    assert base64.b64decode(node["rootHash"]) == root_of(node["note"])
    assert node["origin"] == f"{factory.settings.audit_log_origin}/{tenant.machine_id}"
    keys = (await gql_data(factory.client, "{ auditPublicKeys { verifierKey role active } }",
                           token=token))["auditPublicKeys"]  # fmt: skip
    assert keys == [
        {"verifierKey": key_ring(factory.settings).verifier_keys[0], "role": "LOG", "active": True}
    ]


async def test_inclusion_and_consistency_proofs_verify_against_the_signed_roots(
    factory: Factory,
) -> None:
    tenant = await logged_tenant(factory, [3, 4])
    token = tenant.admin_token
    for position, size in ((1, 3), (3, 3), (1, 7), (6, 7)):
        proof = (
            await gql_data(
                factory.client,
                INCLUSION,
                {"t": await transaction_id(tenant, position), "s": size},
                token=token,
            )
        )["inclusionProof"]
        leaf = transaction_leaf_hash(proof["transactionHash"])
        assert base64.b64decode(proof["leafHash"]) == leaf
        assert (proof["leafIndex"], proof["treeSize"]) == (position - 1, size)
        root = root_of(proof["checkpoint"]["note"])
        assert verify_inclusion(leaf, position - 1, size, b64list(proof["hashes"]), root)
    newest = await gql_data(
        factory.client, INCLUSION, {"t": await transaction_id(tenant, 2)}, token=token
    )
    assert newest["inclusionProof"]["treeSize"] == 7
    await assert_consistent(factory, tenant, token, 3, 7)


async def test_sizes_that_cannot_be_proven_get_errors_naming_the_field(factory: Factory) -> None:
    tenant = await logged_tenant(factory, [3])
    await factory.ingest(tenant, [tx(4)])  # position 4: logged, not yet checkpointed
    token = tenant.admin_token
    first, fourth = await transaction_id(tenant, 1), await transaction_id(tenant, 4)
    size = "checkpointSize"
    cases = [
        (INCLUSION, {"t": first, "s": 0}, "BAD_TREE_SIZE", size),
        (INCLUSION, {"t": first, "s": 2}, "NO_CHECKPOINT", size),
        (INCLUSION, {"t": fourth, "s": 3}, "BAD_TREE_SIZE", size),
        (INCLUSION, {"t": "not-an-id"}, "NOT_FOUND", "transactionId"),
        (CONSISTENCY, {"m": tenant.machine_id, "a": 0, "b": 3}, "BAD_TREE_SIZE", "fromSize"),
        (CONSISTENCY, {"m": tenant.machine_id, "a": 3, "b": 1}, "BAD_TREE_SIZE", "toSize"),
        (CONSISTENCY, {"m": tenant.machine_id, "a": 1, "b": 3}, "NO_CHECKPOINT", "fromSize"),
        (CONSISTENCY, {"m": str(tenant.org.id), "a": 1, "b": 3}, "NOT_FOUND", "machineId"),
        (CHECKPOINTS, {"m": tenant.machine_id, "first": 0}, "BAD_PAGE_SIZE", None),
    ]  # fmt: skip
    for query, variables, code, field in cases:
        body = await gql(factory.client, query, variables, token=token)
        error = body["errors"][0]
        assert (error["extensions"]["code"], error["extensions"].get("field")) == (code, field)
        assert error["message"]
        assert "internal" not in error["message"].lower()


async def test_the_export_downloads_for_an_auditor_and_not_for_an_employee(
    factory: Factory,
) -> None:
    tenant = await logged_tenant(factory, [3])
    _, auditor = await factory.user(tenant, Role.AUDITOR, [])
    _, employee = await factory.user(tenant, Role.EMPLOYEE, [0])
    now = utcnow()
    window = {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }
    bundle = await factory.client.get(
        "/audit/export", params=window, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert bundle.status_code == 200, bundle.text
    assert "attachment" in bundle.headers["content-disposition"]
    report = check_bundle(
        bundle.text.splitlines(), log_keys=key_ring(factory.settings).verifier_keys
    )
    assert report.ok
    assert [log.records for log in report.logs] == [3]
    table = await factory.client.get(
        "/audit/export", params={**window, "format": "csv"},
        headers={"Authorization": f"Bearer {auditor}"},
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [(r["chain_position"], r["amount"]) for r in rows] == [
        ("1", "1000"),
        ("2", "2000"),
        ("3", "3000"),
    ]
    denied = await factory.client.get(
        "/audit/export", params=window, headers={"Authorization": f"Bearer {employee}"}
    )
    assert (denied.status_code, denied.json()["errors"][0]["extensions"]["code"]) == (
        403,
        "FORBIDDEN",
    )
    bad = await factory.client.get(
        "/audit/export", params={"to": window["to"]}, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["field"] == "from"
    anonymous = await factory.client.get("/audit/export", params=window)
    assert anonymous.status_code == 401


async def test_after_retention_removed_the_oldest_records_the_rest_still_prove(
    factory: Factory,
) -> None:
    # given: checkpoints 5, 10 and 15, then the TTL removed records 1 to 7
    tenant = await logged_tenant(factory, [5, 5, 5])
    await transactions().delete_many({"org_id": tenant.org.id, "chain_position": {"$lte": 7}})
    token = tenant.admin_token
    # then: the remaining records prove inclusion in old and new checkpoints
    for position, size in ((8, 10), (8, 15), (15, 15)):
        proof = (
            await gql_data(factory.client, INCLUSION,
                           {"t": await transaction_id(tenant, position), "s": size}, token=token)
        )["inclusionProof"]  # fmt: skip
        leaf = transaction_leaf_hash(proof["transactionHash"])
        root = root_of(proof["checkpoint"]["note"])
        assert verify_inclusion(leaf, position - 1, size, b64list(proof["hashes"]), root)
    # and the checkpoint over records that are all gone is consistent with the newest
    await assert_consistent(factory, tenant, token, 5, 15)
    # and with a one-day retention (every record at the edge) the verifications start after
    # the removed prefix, from the last checkpoint before it
    one_day = factory.settings.model_copy(update={"retention_days": 1})
    check = await verify_machine_chain(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id, settings=one_day
    )
    assert (check.ok, check.first_position, check.checkpoints_checked) == (True, 8, 3), check
    report = verified(await export(one_day, tenant), one_day)
    assert report.ok, report
    assert [(log.records, log.expired) for log in report.logs] == [(8, {"from": 1, "to": 7})]


async def test_hostile_download_parameters_get_a_named_4xx_never_a_5xx(factory: Factory) -> None:
    tenant = await factory.tenant()
    auth = {"Authorization": f"Bearer {tenant.admin_token}"}
    now = utcnow().isoformat()
    cases = [
        ({"from": "yesterday", "to": now}, "from"),
        ({"from": now, "to": "9" * 5000}, "to"),
        ({"from": "0001-01-01T00:00:00", "to": now}, "from"),
        ({"from": now, "to": now}, "from"),
        ({"from": now, "to": "2999-01-01T00:00:00Z", "shopId": "x" * 300}, "shop"),
        ({"from": now, "to": now, "format": "pdf\u0000"}, "format"),
    ]
    for params, field in cases:
        response = await factory.client.get("/audit/export", params=params, headers=auth)
        assert 400 <= response.status_code < 500, (params, response.text)
        error = response.json()["errors"][0]
        assert error["extensions"]["field"] == field, (params, error)
    garbage = await factory.client.get("/audit/export", headers={"Authorization": "Bearer x.y.z"})
    assert garbage.status_code == 401
