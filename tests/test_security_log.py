"""The security audit log: what is recorded, who may read it, and that tampering shows."""

from __future__ import annotations

import asyncio

from bson import ObjectId

from models.identity import Role
from models.security_log import SecurityEvent
from resolvers.identity.security_log import SecurityAction, record_event
from tests.factories import Factory, gql_data

EVENTS = """
{ securityEvents(first: 100) {
    edges { node { position action actorId targetId clientAddress details } }
} }
"""
VERIFY = "{ verifySecurityLog { ok checked headPosition brokenPosition reason } }"


async def test_security_actions_are_logged_and_readable_by_the_auditor(factory: Factory) -> None:
    tenant = await factory.tenant(shops=1)
    _, auditor_token = await factory.user(tenant, Role.AUDITOR, [])
    keys = await gql_data(factory.client, "{ apiKeys { id } }", token=tenant.admin_token)
    key_id = keys["apiKeys"][0]["id"]
    await gql_data(
        factory.client,
        "mutation($id: ID!) { rotateApiKey(id: $id, overlapSeconds: 0) { secret } }",
        {"id": key_id},
        token=tenant.admin_token,
    )
    await gql_data(
        factory.client,
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
        {"id": key_id},
        token=tenant.admin_token,
    )
    page = (await gql_data(factory.client, EVENTS, token=auditor_token))["securityEvents"]
    events = {"events": [edge["node"] for edge in page["edges"]]}
    actions = [e["action"] for e in events["events"]]
    assert actions[:3] == ["API_KEY_REVOKED", "API_KEY_ROTATED", "API_KEY_CREATED"]
    assert [e["position"] for e in events["events"]] == list(range(len(actions), 0, -1))
    assert all("secret" not in str(e).lower() for e in events["events"])
    revoked = events["events"][0]
    assert revoked["actorId"] == str(tenant.admin.id)
    assert revoked["targetId"] == key_id
    assert revoked["clientAddress"] == "127.0.0.1"
    verified = (await gql_data(factory.client, VERIFY, token=auditor_token))["verifySecurityLog"]
    assert verified["ok"] is True
    assert verified["checked"] == verified["headPosition"] == len(actions)


async def test_concurrent_appends_keep_one_unbroken_chain(factory: Factory) -> None:
    tenant = await factory.tenant(shops=0)
    await asyncio.gather(
        *[
            record_event(org_id=tenant.org.id, action=SecurityAction.LOGOUT, target_id=str(i))
            for i in range(12)
        ]
    )
    verified = (await gql_data(factory.client, VERIFY, token=tenant.admin_token))[
        "verifySecurityLog"
    ]
    assert verified == {
        "ok": True,
        "checked": 12,
        "headPosition": 12,
        "brokenPosition": None,
        "reason": None,
    }


async def _org_with_events(factory: Factory, count: int) -> tuple[ObjectId, str]:
    tenant = await factory.tenant(shops=0)
    for i in range(count):
        await record_event(org_id=tenant.org.id, action=SecurityAction.LOGOUT, target_id=str(i))
    return tenant.org.id, tenant.admin_token


async def test_edited_event_is_named_by_verification(factory: Factory) -> None:
    org_id, token = await _org_with_events(factory, 4)
    await SecurityEvent.get_pymongo_collection().update_one(
        {"org_id": org_id, "position": 2}, {"$set": {"details": {"note": "rewritten"}}}
    )
    verified = (await gql_data(factory.client, VERIFY, token=token))["verifySecurityLog"]
    assert (verified["ok"], verified["brokenPosition"]) == (False, 2)
    assert "hash" in verified["reason"]


async def test_deleted_events_are_detected(factory: Factory) -> None:
    org_id, token = await _org_with_events(factory, 4)
    collection = SecurityEvent.get_pymongo_collection()
    await collection.delete_one({"org_id": org_id, "position": 4})
    newest_gone = (await gql_data(factory.client, VERIFY, token=token))["verifySecurityLog"]
    assert (newest_gone["ok"], newest_gone["brokenPosition"]) == (False, 4)
    await collection.delete_one({"org_id": org_id, "position": 2})
    middle_gone = (await gql_data(factory.client, VERIFY, token=token))["verifySecurityLog"]
    assert (middle_gone["ok"], middle_gone["brokenPosition"]) == (False, 2)


async def test_an_update_names_the_fields_it_changed_and_one_that_changes_nothing_is_not_logged(
    factory: Factory,
) -> None:
    # given
    tenant = await factory.tenant(shops=1)
    update = """mutation($m: ID!, $name: String) {
      updateMachine(input: {machineId: $m, name: $name}) { userErrors { code } } }"""
    rename = {"m": tenant.machine_id, "name": "front till"}
    # when
    await gql_data(factory.client, update, rename, token=tenant.admin_token)
    await gql_data(factory.client, update, {"m": tenant.machine_id}, token=tenant.admin_token)
    # then
    page = (await gql_data(factory.client, EVENTS, token=tenant.admin_token))["securityEvents"]
    updates = [e["node"] for e in page["edges"] if e["node"]["action"] == "MACHINE_UPDATED"]
    assert [(e["targetId"], e["details"]) for e in updates] == [
        (tenant.machine_id, ["fields=name"])
    ]
