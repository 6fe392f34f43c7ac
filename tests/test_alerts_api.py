"""The alerts API as people use it: scoped reading, acknowledging and resolving by hand,
silences, planned collections, rule settings, and alertsChanged from a real server."""

from __future__ import annotations

from datetime import timedelta

from config import Settings
from models.identity import Role
from models.organization import utcnow
from tests.alert_support import alerts_pass, beat, evaluate, incidents, jam, notified, seen_clock
from tests.factories import Factory, Tenant, gql, gql_data, message
from tests.live_support import LiveClient, clients, graphql_post
from tests.servers import api_server

ALERTS = """
query($filter: AlertFilterInput, $first: Int!, $after: String) {
  alerts(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id rule subject state severity occurrences machine { id } shop { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ACK = """
mutation($id: ID!, $comment: String) {
  acknowledgeAlert(id: $id, comment: $comment) {
    alert { id state acknowledgedAt timeline { number state note notified by { kind comment } } }
    userErrors { field code message }
  }
}
"""
RESOLVE = """
mutation($id: ID!) {
  resolveAlert(id: $id, comment: "replaced the cassette") {
    alert { id state manuallyResolved } reopens userErrors { field code message }
  }
}
"""
CREATE_SILENCE = """
mutation($input: CreateSilenceInput!) {
  createSilence(input: $input) { silence { id endsAt } userErrors { field code message } }
}
"""
EXPIRE_SILENCE = """
mutation($id: ID!) { expireSilence(id: $id) { silence { id expiredAt } userErrors { code } } }
"""
UPDATE_RULE = """
mutation($input: UpdateAlertRuleInput!) {
  updateAlertRule(input: $input) { rule { rule enabled holdSeconds threshold }
    userErrors { field code message } }
}
"""
SCHEDULE = """
mutation($input: ScheduleCollectionInput!) {
  scheduleCollection(input: $input) { collection { id } userErrors { field code message } }
}
"""


async def firing_jams(factory: Factory, settings: Settings, tenant: Tenant) -> None:
    """A jam on every machine of the tenant, held past its hold: one FIRING alert each."""
    clock = await seen_clock(factory, tenant, machines=len(tenant.machines))
    for machine_id, key in zip(tenant.machine_ids, tenant.machine_keys, strict=True):
        await factory.report(tenant, [jam(2)], machine_id=machine_id, api_key=key)
    await alerts_pass(settings, clock.at(1))
    await alerts_pass(settings, clock.at(61))


async def alert_nodes(factory: Factory, token: str, **filter_: object) -> list[dict]:
    data = await gql_data(
        factory.client, ALERTS, {"filter": filter_ or None, "first": 50}, token=token
    )
    return [e["node"] for e in data["alerts"]["edges"]]


async def test_a_shop_manager_sees_and_acknowledges_only_their_shops_alerts(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(shops=2)
    await firing_jams(factory, settings, tenant)
    _, manager = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    everyone = await alert_nodes(factory, tenant.admin_token)
    assert len(everyone) == 2
    mine = await alert_nodes(factory, manager)
    assert [a["shop"]["id"] for a in mine] == [str(tenant.shops[0].id)]
    theirs = next(a for a in everyone if a["shop"]["id"] == str(tenant.shops[1].id))
    assert await alert_nodes(factory, manager, shopIds=[str(tenant.shops[1].id)]) == []

    refused = await gql_data(factory.client, ACK, {"id": theirs["id"]}, token=manager)
    assert refused["acknowledgeAlert"]["userErrors"][0]["code"] == "NOT_FOUND"
    done = await gql_data(
        factory.client, ACK, {"id": mine[0]["id"], "comment": "on my way"}, token=manager
    )
    alert = done["acknowledgeAlert"]["alert"]
    assert alert["state"] == "ACKNOWLEDGED"
    assert alert["timeline"][-1]["by"] == {"kind": "USER", "comment": "on my way"}
    assert alert["timeline"][-1]["notified"] is True
    again = await gql_data(factory.client, ACK, {"id": mine[0]["id"]}, token=manager)
    assert again["acknowledgeAlert"]["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_an_employee_acknowledges_in_their_shop_and_an_auditor_only_reads(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await firing_jams(factory, settings, tenant)
    _, auditor = await factory.user(tenant, Role.AUDITOR, [])
    _, employee = await factory.user(tenant, Role.EMPLOYEE, [0])
    (alert,) = await alert_nodes(factory, auditor)
    refused = await gql(factory.client, ACK, {"id": alert["id"]}, token=auditor)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = await gql_data(factory.client, ACK, {"id": alert["id"]}, token=employee)
    assert done["acknowledgeAlert"]["alert"]["state"] == "ACKNOWLEDGED"


async def test_an_api_key_cannot_read_alerts(factory: Factory) -> None:
    tenant = await factory.tenant()
    answer = await gql(factory.client, ALERTS, {"first": 5}, api_key=tenant.api_key)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_resolving_a_still_true_alert_by_hand_says_it_reopens_and_it_does(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    await firing_jams(factory, settings, tenant)
    (alert,) = await alert_nodes(factory, tenant.admin_token)
    done = (await gql_data(factory.client, RESOLVE, {"id": alert["id"]}, token=tenant.admin_token))[
        "resolveAlert"
    ]
    assert done["reopens"] is True
    assert done["alert"]["manuallyResolved"] is True
    await alerts_pass(settings, utcnow() + timedelta(seconds=200))
    # a new incident, firing at once: the jam has held for longer than the hold
    assert [i["state"] for i in await incidents(tenant)] == ["RESOLVED", "FIRING"]

    await factory.report(tenant, [jam(3, cleared=True)])
    cleared = utcnow() + timedelta(seconds=201)
    await alerts_pass(settings, cleared)
    await alerts_pass(settings, cleared + timedelta(minutes=10))
    assert [i["state"] for i in await incidents(tenant)] == ["RESOLVED", "RESOLVED"]


async def test_alerts_page_through_with_a_cursor_newest_first(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=3)
    await firing_jams(factory, settings, tenant)
    first = await gql_data(factory.client, ALERTS, {"first": 2}, token=tenant.admin_token)
    page = first["alerts"]
    assert len(page["edges"]) == 2
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql_data(
        factory.client,
        ALERTS,
        {"first": 2, "after": page["pageInfo"]["endCursor"]},
        token=tenant.admin_token,
    )
    ids = [e["node"]["id"] for e in page["edges"] + rest["alerts"]["edges"]]
    assert len(set(ids)) == 3
    assert rest["alerts"]["pageInfo"]["hasNextPage"] is False
    bad = await gql(
        factory.client, ALERTS, {"first": 2, "after": "nonsense"}, token=tenant.admin_token
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_CURSOR"


async def test_a_silence_suppresses_and_once_expired_alerts_flow_again(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    ends = (utcnow() + timedelta(hours=2)).isoformat()
    created = await gql_data(
        factory.client,
        CREATE_SILENCE,
        {"input": {"machineIds": [tenant.machine_id], "reason": "maintenance", "endsAt": ends}},
        token=tenant.admin_token,
    )
    silence = created["createSilence"]["silence"]
    await evaluate(settings, clock.at(601))
    (incident,) = await incidents(tenant)
    assert incident["state"] == "FIRING"
    assert await notified(tenant) == []
    assert incident["timeline"][-1]["suppressed"].startswith("silenced by")

    await gql_data(factory.client, EXPIRE_SILENCE, {"id": silence["id"]}, token=tenant.admin_token)
    await evaluate(settings, clock.at(602))
    assert await notified(tenant) == [("OFFLINE", tenant.machine_id, "FIRING")]


async def test_a_silence_must_end_within_seven_days_and_name_shops_in_scope(
    factory: Factory,
) -> None:
    tenant = await factory.tenant(shops=2)
    _, manager = await factory.user(tenant, Role.SHOP_MANAGER, [0])
    too_long = (utcnow() + timedelta(days=8)).isoformat()
    answer = await gql_data(
        factory.client,
        CREATE_SILENCE,
        {"input": {"reason": "long", "endsAt": too_long}},
        token=tenant.admin_token,
    )
    assert [e["field"] for e in answer["createSilence"]["userErrors"]] == ["input.endsAt"]
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    everything = await gql_data(
        factory.client, CREATE_SILENCE, {"input": {"reason": "x", "endsAt": soon}}, token=manager
    )
    assert everything["createSilence"]["userErrors"][0]["field"] == "input.shopIds"
    other = await gql_data(
        factory.client,
        CREATE_SILENCE,
        {"input": {"reason": "x", "endsAt": soon, "shopIds": [str(tenant.shops[1].id)]}},
        token=manager,
    )
    assert other["createSilence"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_a_unit_removed_during_a_planned_collection_raises_no_alert(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=2)
    clock = await seen_clock(factory, tenant, machines=2)
    planned, surprise = tenant.machine_ids
    window = {"from": utcnow().isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
    scheduled = await gql_data(
        factory.client,
        SCHEDULE,
        {"input": {"machineId": planned, **window}},
        token=tenant.admin_token,
    )
    assert scheduled["scheduleCollection"]["userErrors"] == []
    missing = {"number": 3, "purpose": "COLLECTION_BOX", "statusCode": 21}
    for machine_id in (planned, surprise):
        units = message("UNITS", 2, at=utcnow(), units=[missing])
        await factory.report(tenant, [units], machine_id=machine_id)
    await alerts_pass(settings, clock.at(5))
    assert await notified(tenant) == [("UNIT_MISSING", surprise, "FIRING")]


async def test_a_disabled_rule_raises_nothing_and_bad_settings_name_the_field(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    bad = await gql_data(
        factory.client,
        UPDATE_RULE,
        {"input": {"rule": "NOTE_JAM", "threshold": 5, "holdSeconds": -1}},
        token=tenant.admin_token,
    )
    fields = sorted(e["field"] for e in bad["updateAlertRule"]["userErrors"])
    assert fields == ["input.holdSeconds", "input.threshold"]
    off = await gql_data(
        factory.client,
        UPDATE_RULE,
        {"input": {"rule": "NOTE_JAM", "enabled": False}},
        token=tenant.admin_token,
    )
    assert off["updateAlertRule"]["rule"]["enabled"] is False
    await firing_jams(factory, settings, tenant)
    assert await incidents(tenant) == []


async def test_a_rule_whose_settings_are_all_reset_to_the_defaults_is_no_longer_customized(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()

    async def customized() -> bool:
        data = await gql_data(
            factory.client,
            "{ alertRules { settings { rule } customized } }",
            token=tenant.admin_token,
        )
        return next(e for e in data["alertRules"] if e["settings"]["rule"] == "NOTE_JAM")[
            "customized"
        ]

    async def update(**fields: object) -> None:
        data = await gql_data(
            factory.client,
            UPDATE_RULE,
            {"input": {"rule": "NOTE_JAM", **fields}},
            token=tenant.admin_token,
        )
        assert data["updateAlertRule"]["userErrors"] == []

    assert await customized() is False
    await update(holdSeconds=5, keepFiringSeconds=30)
    assert await customized() is True
    await update(holdSeconds=None)
    assert await customized() is True, "keepFiringSeconds still differs"
    await update(keepFiringSeconds=None)
    assert await customized() is False


async def test_alerts_changed_streams_each_transition_from_a_running_server(
    factory: Factory, settings: Settings
) -> None:
    """A jam on a machine whose NOTE_JAM rule has no hold: the server's own evaluator fires
    it and the subscriber sees PENDING then FIRING, typed."""
    tenant = await factory.tenant(shops=2)
    await gql_data(
        factory.client,
        UPDATE_RULE,
        {"input": {"rule": "NOTE_JAM", "holdSeconds": 0}},
        token=tenant.admin_token,
    )
    subscription = """
    subscription($shopIds: [ID!]) {
      alertsChanged(shopIds: $shopIds) {
        type alertId rule subject state severity transition { number state notified }
      }
    }
    """
    with api_server(settings, alert_evaluator_interval_seconds="0.2") as server:
        auth = {"authorization": f"Bearer {tenant.admin_token}"}
        client = await LiveClient.open(server.ws_url, auth)
        async with clients(client):
            await client.subscribe(subscription, {"shopIds": [str(tenant.shops[0].id)]})
            for index, machine_id in enumerate(tenant.machine_ids):
                report = """mutation($input: ReportMachineTelemetryInput!) {
                  reportMachineTelemetry(input: $input) { accepted } }"""
                messages = [beat(1), jam(2)]
                await graphql_post(
                    server.http_url,
                    report,
                    {"input": {"machineId": machine_id, "messages": messages}},
                    api_key=tenant.machine_keys[index],
                )
            events = [(await client.next_data(timeout=15))["alertsChanged"] for _ in range(2)]
    assert [e["transition"]["state"] for e in events] == ["PENDING", "FIRING"]
    assert events[1]["transition"]["notified"] is True
    assert {e["rule"] for e in events} == {"NOTE_JAM"}
    shop0 = [i for i in await incidents(tenant) if i["shop_id"] == tenant.shops[0].id]
    assert {e["alertId"] for e in events} == {str(shop0[0]["_id"])}
