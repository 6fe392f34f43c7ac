"""The incident lifecycle on a real database with an injected clock: holds, keep-firing,
flapping, shop-level inhibition, silences, evaluators racing (docs/alerts.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from config import Settings
from tests.alert_support import (
    alerts_pass,
    beat,
    evaluate,
    incidents,
    jam,
    last_heard,
    notified,
    seen_clock,
)
from tests.factories import Factory, gql_data, tx

NEGATIVE = "NEGATIVE_INVENTORY"
UPDATE_RULE = """
mutation($input: UpdateAlertRuleInput!) {
  updateAlertRule(input: $input) { rule { rule holdSeconds keepFiringSeconds }
    userErrors { field code message } }
}
"""


async def test_silence_below_the_grace_alerts_nothing_then_one_offline_resolved_by_a_heartbeat(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    machine = tenant.machine_id

    await evaluate(settings, clock.at(179))
    assert await incidents(tenant) == []
    await evaluate(settings, clock.at(601))
    await evaluate(settings, clock.at(700))
    assert await notified(tenant) == [("OFFLINE", machine, "FIRING")]

    await factory.report(tenant, [beat(2)])
    await evaluate(settings, clock.at(701), connectivity=False)
    assert await notified(tenant) == [
        ("OFFLINE", machine, "FIRING"),
        ("OFFLINE", machine, "RESOLVED"),
    ]
    (incident,) = await incidents(tenant)
    assert incident["state"] == "RESOLVED"
    assert [e["state"] for e in incident["timeline"]] == ["PENDING", "FIRING", "RESOLVED"]


async def test_a_jam_cleared_within_its_hold_notifies_nothing(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    await factory.report(tenant, [jam(2)])
    await alerts_pass(settings, clock.at(10))
    (pending,) = await incidents(tenant)
    assert pending["state"] == "PENDING"

    await factory.report(tenant, [jam(3, cleared=True)])
    await alerts_pass(settings, clock.at(50))
    await alerts_pass(settings, clock.at(120))
    (incident,) = await incidents(tenant)
    assert incident["state"] == "RESOLVED"
    assert await notified(tenant) == []


async def test_a_jam_that_holds_past_its_hold_fires_once_when_the_hold_runs_out(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    await factory.report(tenant, [jam(2)])
    await alerts_pass(settings, clock.at(5))
    await alerts_pass(settings, clock.at(30))
    assert await notified(tenant) == []
    await alerts_pass(settings, clock.at(70))
    await alerts_pass(settings, clock.at(90))
    assert await notified(tenant) == [("NOTE_JAM", tenant.machine_id, "FIRING")]


async def test_six_jam_flaps_in_thirty_minutes_notify_once_and_resolve_once_stable(
    factory: Factory, settings: Settings
) -> None:
    """A jam on for 2 minutes every 5 minutes: the default keep-firing (10 min) keeps one
    incident open across the flaps, each one more occurrence."""
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    seq = 2
    for flap in range(6):
        start = flap * 300
        await factory.report(tenant, [jam(seq)])
        await alerts_pass(settings, clock.at(start + 1))
        await alerts_pass(settings, clock.at(start + 120))
        await factory.report(tenant, [jam(seq + 1, cleared=True)])
        await alerts_pass(settings, clock.at(start + 121))
        seq += 2
    machine = tenant.machine_id
    assert await notified(tenant) == [("NOTE_JAM", machine, "FIRING")]
    await alerts_pass(settings, clock.at(5 * 300 + 121 + 600))
    assert await notified(tenant) == [
        ("NOTE_JAM", machine, "FIRING"),
        ("NOTE_JAM", machine, "RESOLVED"),
    ]
    (incident,) = await incidents(tenant)
    assert incident["occurrences"] == 6


async def test_a_flapping_key_notifies_flapping_once_and_stays_open_until_stable(
    factory: Factory, settings: Settings
) -> None:
    """No hold, no keep-firing: the fourth FIRING/RESOLVED transition within an hour marks
    the incident flapping instead of resolving it; it resolves after 30 stable minutes."""
    tenant = await factory.tenant()
    await gql_data(
        factory.client,
        UPDATE_RULE,
        {"input": {"rule": "NOTE_JAM", "holdSeconds": 0, "keepFiringSeconds": 0}},
        token=tenant.admin_token,
    )
    clock = await seen_clock(factory, tenant)
    seq = 2
    for flap in range(6):
        await factory.report(tenant, [jam(seq)])
        await alerts_pass(settings, clock.at(flap * 300 + 1))
        await factory.report(tenant, [jam(seq + 1, cleared=True)])
        await alerts_pass(settings, clock.at(flap * 300 + 60))
        seq += 2
    machine = tenant.machine_id
    expected = [
        ("NOTE_JAM", machine, "FIRING"),
        ("NOTE_JAM", machine, "RESOLVED"),
        ("NOTE_JAM", machine, "FIRING"),
        ("NOTE_JAM", machine, "FLAPPING"),
    ]
    assert await notified(tenant) == expected
    flapping = [i for i in await incidents(tenant) if i["flapping"]]
    assert len(flapping) == 1
    assert flapping[0]["state"] == "FIRING"
    await alerts_pass(settings, clock.at(5 * 300 + 60 + 1800))
    assert await notified(tenant) == [*expected, ("NOTE_JAM", machine, "RESOLVED")]


async def test_a_whole_shop_going_offline_notifies_once_for_the_shop(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=10)
    clock = await seen_clock(factory, tenant, machines=10)
    await evaluate(settings, clock.at(181))
    await evaluate(settings, clock.at(601))
    await evaluate(settings, clock.at(700))
    assert await notified(tenant) == [("OFFLINE", "shop", "FIRING")]
    machine_incidents = await incidents(tenant, machine_id={"$ne": None})
    assert len(machine_incidents) == 10  # recorded, inhibited
    assert all(i["state"] == "FIRING" for i in machine_incidents)

    first, *others = tenant.machine_ids
    await factory.report(tenant, [beat(2)], machine_id=first)
    await evaluate(settings, clock.at(701), connectivity=False)
    # the machines coming back one by one: the outage stays one incident
    assert await notified(tenant) == [("OFFLINE", "shop", "FIRING")]
    for machine_id in others:
        await factory.report(tenant, [beat(2)], machine_id=machine_id)
    await evaluate(settings, clock.at(702), connectivity=False)
    assert await notified(tenant) == [
        ("OFFLINE", "shop", "FIRING"),
        ("OFFLINE", "shop", "RESOLVED"),
    ]
    assert all(i["state"] == "RESOLVED" for i in await incidents(tenant))


async def test_one_machine_of_a_shop_going_offline_notifies_for_that_machine(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=3)
    clock = await seen_clock(factory, tenant, machines=3)
    await last_heard(tenant, 0, at=clock.start - timedelta(seconds=700))
    await evaluate(settings, clock.at(5))
    assert await notified(tenant) == [("OFFLINE", tenant.machine_id, "FIRING")]
    assert await incidents(tenant, machine_id=None) == []


async def test_evaluators_racing_make_each_transition_once(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant(machines_per_shop=4)
    clock = await seen_clock(factory, tenant, machines=4)
    for machine_id in tenant.machine_ids:
        await factory.report(tenant, [jam(2)], machine_id=machine_id)
    for later in (5, 70, 601):
        now = clock.at(later)
        await asyncio.gather(*(evaluate(settings, now) for _ in range(4)))
    found = await incidents(tenant, rule="NOTE_JAM")
    assert len(found) == 4
    for incident in found:
        assert [e["state"] for e in incident["timeline"]] == ["PENDING", "FIRING"]
    assert len(await incidents(tenant, rule="OFFLINE", machine_id=None)) == 1


async def test_a_withdrawal_below_zero_alerts_at_once_even_when_counts_recover(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    batch = [
        tx(1, "DEPOSIT", [(1000, 2)]),
        tx(2, "WITHDRAWAL", [(1000, 5)]),
        tx(3, lines=[(1000, 4)]),
    ]
    await factory.ingest(tenant, batch)
    await alerts_pass(settings, clock.at(2))
    # the payout also took the 10 EUR notes low, which is an alert of its own
    assert await notified(tenant, rule=NEGATIVE) == [
        ("NEGATIVE_INVENTORY", tenant.machine_id, "FIRING")
    ]
    (incident,) = await incidents(tenant, rule=NEGATIVE)
    assert incident["detail"]["flagged_seq"] == 2
    await alerts_pass(settings, clock.at(3700))
    assert (await notified(tenant, rule=NEGATIVE))[-1] == (
        "NEGATIVE_INVENTORY",
        tenant.machine_id,
        "RESOLVED",
    )


async def test_a_seq_gap_alerts_once_open_for_fifteen_minutes_and_resolves_when_filled(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    clock = await seen_clock(factory, tenant)
    await factory.ingest(tenant, [tx(1), tx(5)])
    await alerts_pass(settings, clock.at(60))
    assert await incidents(tenant) == []
    await alerts_pass(settings, clock.at(15 * 60 + 5))
    assert await notified(tenant) == [("SEQ_GAP_OPEN", tenant.machine_id, "FIRING")]
    await factory.ingest(tenant, [tx(2), tx(3), tx(4)])
    await alerts_pass(settings, clock.at(15 * 60 + 6))
    assert (await notified(tenant))[-1] == ("SEQ_GAP_OPEN", tenant.machine_id, "RESOLVED")
