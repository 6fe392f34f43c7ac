"""Tampering with a machine's history is found, and the first broken record named, both by the
offline bundle verifier and by verifyMachineChain.

Every test builds a log of three batches of five records, each batch checkpointed (sizes 5, 10
and 15), tampers with the database as someone holding it could, and then exports a bundle and
asks the service to verify.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable

import pytest

from models.audit import AuditLogHead, LogKey
from models.scope import Scope
from resolvers.audit.checkpoint import Checkpoint, format_checkpoint
from resolvers.audit.log_check import verify_machine_chain
from resolvers.audit.note import Signer, sign_note
from tests.audit_support import (
    chain_of,
    checkpoint,
    checkpoints,
    export,
    logged_tenant,
    rebuild_tree,
    relink,
    transactions,
    verified,
)
from tests.factories import Factory, Tenant

Tamper = Callable[[Factory, Tenant], Awaitable[None]]


async def modified_amount(factory: Factory, tenant: Tenant) -> None:
    await transactions().update_one(
        {"org_id": tenant.org.id, "chain_position": 7}, {"$set": {"amount": 1}}
    )


async def deleted_record(factory: Factory, tenant: Tenant) -> None:
    await transactions().delete_one({"org_id": tenant.org.id, "chain_position": 7})


async def inserted_record(factory: Factory, tenant: Tenant) -> None:
    """A forged record slipped in at position 7, the later ones moved up, every link and
    hash recomputed and the head moved: the chain alone is consistent again."""
    docs = await chain_of(tenant)
    forged = {k: v for k, v in docs[6].items() if k != "_id"} | {"seq": 999, "amount": 50_000}
    docs = [*docs[:6], forged, *docs[6:]]
    for position, doc in enumerate(docs, start=1):
        doc["chain_position"] = position
    await relink(tenant, docs)


async def swapped_records(factory: Factory, tenant: Tenant) -> None:
    query = {"org_id": tenant.org.id}
    await transactions().update_one(
        {**query, "chain_position": 7}, {"$set": {"chain_position": -7}}
    )
    await transactions().update_one({**query, "chain_position": 8}, {"$set": {"chain_position": 7}})
    await transactions().update_one(
        {**query, "chain_position": -7}, {"$set": {"chain_position": 8}}
    )


async def rewritten_history(factory: Factory, tenant: Tenant) -> None:
    """The whole history rewritten from record 1 with consistent hashes, a rebuilt Merkle
    tree and compact range, and the later checkpoints re-signed with the service's own key
    (an insider): only the checkpoint of size 5 signed before the rewrite remains."""
    docs = await chain_of(tenant)
    docs[0]["amount"] = 1
    await relink(tenant, docs)
    await rebuild_tree(tenant, docs)
    machine = tenant.machines[0]
    await checkpoints().delete_many({"machine_id": machine.id, "size": {"$gt": 5}})
    await AuditLogHead.get_pymongo_collection().delete_many({"machine_id": machine.id})
    run = await checkpoint(factory.settings, tenant)
    assert [cp.size for cp in run.stored if cp.log.machine_id == machine.id] == [15]


async def forged_signature(factory: Factory, tenant: Tenant) -> None:
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id, "size": 10})
    body, signature = doc["note"].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 0x01
    forged = f"{body} {base64.b64encode(bytes(raw)).decode()}\n"
    await checkpoints().update_one({"_id": doc["_id"]}, {"$set": {"note": forged}})


async def unknown_key(factory: Factory, tenant: Tenant) -> None:
    """Checkpoint 10 replaced by one over another root, signed by a key nobody trusts that
    carries the log key's name."""
    doc = await checkpoints().find_one({"machine_id": tenant.machines[0].id, "size": 10})
    stranger = Signer(doc["key_name"], 1, hashlib.sha256(b"not the service's key").digest())
    body = format_checkpoint(Checkpoint(doc["origin"], 10, hashlib.sha256(b"x").digest()))
    await checkpoints().update_one(
        {"_id": doc["_id"]}, {"$set": {"note": sign_note(body, [stranger])}}
    )


CASES: dict[str, tuple[Tamper, int, str]] = {
    "a modified amount": (modified_amount, 7, "content does not match"),
    "a deleted record": (deleted_record, 7, "missing"),
    "an inserted record": (inserted_record, 7, "not in the tree"),
    "two records swapped": (swapped_records, 7, "content does not match"),
    "the whole history rewritten": (rewritten_history, 1, "do not match the signed checkpoint"),
    "a forged checkpoint signature": (forged_signature, 6, "signature of the checkpoint"),
    "a checkpoint signed by an unknown key": (unknown_key, 6, "unknown key"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_tampering_is_found_and_the_first_broken_record_named(
    factory: Factory, case: str
) -> None:
    # given
    tenant = await logged_tenant(factory, [5, 5, 5])
    tamper, first_broken, reason = CASES[case]
    # when
    await tamper(factory, tenant)
    report = verified(await export(factory.settings, tenant), factory.settings)
    check = await verify_machine_chain(
        scope=Scope.organization(tenant.org.id),
        machine_id=tenant.machines[0].id,
        settings=factory.settings,
    )
    # then
    assert not report.ok
    (log,) = report.logs
    assert log.finding is not None
    assert (log.finding.position, reason in log.finding.reason) == (first_broken, True), log
    assert (check.ok, check.broken_position) == (False, first_broken), check


async def test_an_untouched_log_verifies_in_the_bundle_and_in_the_service(
    factory: Factory,
) -> None:
    tenant = await logged_tenant(factory, [5, 5, 5])
    report = verified(await export(factory.settings, tenant), factory.settings)
    check = await verify_machine_chain(
        scope=Scope.organization(tenant.org.id),
        machine_id=tenant.machines[0].id,
        settings=factory.settings,
    )
    assert report.ok, report
    assert [(log.records, log.checkpoint_sizes) for log in report.logs] == [(15, [5, 10, 15])]
    assert (check.ok, check.checked, check.checkpoint_size, check.checkpoints_checked) == (
        True,
        15,
        15,
        3,
    )


async def test_the_service_refuses_to_sign_a_rewritten_log(factory: Factory) -> None:
    """A rewrite (records, hashes, tree) that leaves the log's last checkpoint in place: the
    next run checks consistency with it before signing, and signs nothing."""
    tenant = await logged_tenant(factory, [5])
    docs = await chain_of(tenant)
    docs[0]["amount"] = 1
    docs.append({k: v for k, v in docs[-1].items() if k != "_id"} | {"seq": 6})
    docs[-1]["chain_position"] = 6
    await relink(tenant, docs)
    await rebuild_tree(tenant, docs)
    run = await checkpoint(factory.settings, tenant)
    assert run.refused == [LogKey(tenant.org.id, tenant.machines[0].id)]
    assert await checkpoints().count_documents({"machine_id": tenant.machines[0].id}) == 1
