"""Evaluating the alerts of claimed machines: conditions -> key steps -> one transaction per
changed key (instance compare-and-set, incident write, notifications enqueued) -> publish.

OFFLINE is evaluated per shop: every machine of a touched shop, and the shop's own key. When
every machine of a shop (two or more) is OFFLINE, one shop-level incident notifies and the
machines' incidents are inhibited; while another machine of the shop is LATE (the site may be
going down as a whole), a machine's OFFLINE notification waits, at most one offline grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from config import Settings
from models.alert_store import (
    InstanceChanged,
    active_silences,
    collections_for,
    incidents_by_ids,
    instances_by_keys,
    instances_of_machines,
    rule_overrides,
    shops_with_unsettled_twins,
    twins_of_shops,
)
from models.alerts import AlertRule, Severity, Silence
from models.health import Connectivity
from models.ledger_store import list_inventory_states
from models.machine import Machine
from models.machine_store import list_machines
from models.org_store import get_organization, list_shops
from models.scope import Scope
from resolvers.alerts.conditions import Condition, MachineFacts, assess
from resolvers.alerts.forecasts import forecasts_for
from resolvers.alerts.lifecycle import Step, Suppression, evaluate_key, new_instance
from resolvers.alerts.notify import commit_step, publish_steps
from resolvers.alerts.rules import RuleSettings, effective_rules
from resolvers.fleet.opening_hours import is_open
from resolvers.health.settings import effective_settings

log = logging.getLogger(__name__)
R = AlertRule


def machine_key(machine_id: ObjectId, rule: AlertRule, subject: str) -> str:
    return f"{machine_id}:{rule.value}:{subject}"


def shop_key(shop_id: ObjectId, rule: AlertRule) -> str:
    return f"shop:{shop_id}:{rule.value}"


def _silenced(
    silences: list[Silence], shop_id: Any, machine_id: Any, rule: AlertRule
) -> ObjectId | None:
    for s in silences:
        if s.shop_ids and shop_id not in s.shop_ids:
            continue
        if s.machine_ids and machine_id not in s.machine_ids:
            continue
        if s.rules and rule not in s.rules:
            continue
        return s.id
    return None


@dataclass
class _Shop:
    in_service: list[ObjectId] = field(default_factory=list)
    connectivity: dict[ObjectId, str] = field(default_factory=dict)

    def all_offline(self) -> bool:
        return len(self.in_service) >= 2 and all(
            self.connectivity.get(m) == Connectivity.OFFLINE.value for m in self.in_service
        )

    def any_offline(self) -> bool:
        return any(self.connectivity.get(m) == Connectivity.OFFLINE.value for m in self.in_service)

    def others_late(self, machine_id: ObjectId) -> bool:
        return any(
            self.connectivity.get(m) == Connectivity.LATE.value
            for m in self.in_service
            if m != machine_id
        )


@dataclass
class OrgEvaluation:
    """Everything one pass needs about one organization's claimed machines."""

    org_id: ObjectId
    now: datetime
    settings: Settings
    rules: dict[AlertRule, RuleSettings] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    next_due: dict[ObjectId, datetime | None] = field(default_factory=dict)


async def evaluate_org(
    org_id: ObjectId, twins: list[dict[str, Any]], *, now: datetime, settings: Settings
) -> OrgEvaluation:
    """Evaluate and commit the alerts of `twins` (claimed machines of one organization)."""
    ev = OrgEvaluation(org_id, now, settings)
    scope = Scope.organization(org_id)
    ids = [t["_id"] for t in twins]
    shop_ids = sorted({t["shop_id"] for t in twins})
    (
        overrides,
        ev.silences,
        org,
        shops,
        states,
        unsettled,
        shop_instances,
        claimed_machines,
        collections,
        forecasts,
    ) = await asyncio.gather(
        rule_overrides(org_id),
        active_silences(org_id, now),
        get_organization(scope=scope),
        list_shops(scope=scope, shop_ids=shop_ids),
        list_inventory_states(scope=scope, machine_ids=ids),
        shops_with_unsettled_twins(org_id=org_id, shop_ids=shop_ids),
        instances_by_keys(org_id=org_id, keys=[shop_key(s, R.OFFLINE) for s in shop_ids]),
        list_machines(scope=scope, machine_ids=ids),
        collections_for(org_id=org_id, machine_ids=ids, since=now - timedelta(days=1)),
        forecasts_for(org_id=org_id, machine_ids=ids),
    )
    ev.rules = effective_rules(overrides)
    # Only where a machine is late or offline, or the shop's own OFFLINE incident exists, does
    # one machine's OFFLINE depend on the others: there every machine of the shop is read;
    # elsewhere the claimed machines alone give the same outcome.
    wide = sorted(unsettled | {i["shop_id"] for i in shop_instances})
    shop_twins, wide_machines = (
        await asyncio.gather(
            twins_of_shops(org_id=org_id, shop_ids=wide),
            list_machines(scope=scope.narrowed(shop_ids=wide)),
        )
        if wide
        else ([], [])
    )
    shop_set = set(shop_ids)
    machines = {m.id: m for m in claimed_machines if m.shop_id in shop_set}
    for m in claimed_machines:
        if m.shop_id not in shop_set:
            # Moved to another shop after the claim read its twin: looked at again shortly, with
            # the twin the move updated (a machine that no longer exists is not).
            ev.next_due[m.id] = now + timedelta(seconds=5)
    shop_of = {s.id: s for s in shops}
    state_of = {s["_id"]: s for s in states}
    wide_set = set(wide)
    shop_machines = wide_machines + [m for m in machines.values() if m.shop_id not in wide_set]
    connectivity_twins = shop_twins + [t for t in twins if t["shop_id"] not in wide_set]
    by_shop: dict[ObjectId, _Shop] = defaultdict(_Shop)
    machines_of_shop: dict[ObjectId, list[Machine]] = defaultdict(list)
    for m in shop_machines:
        machines_of_shop[m.shop_id].append(m)
        if m.decommissioned_at is None:
            by_shop[m.shop_id].in_service.append(m.id)
    for t in connectivity_twins:
        by_shop[t["shop_id"]].connectivity[t["_id"]] = t["connectivity"]
    all_ids = [m.id for m in shop_machines]
    instances = shop_instances + await instances_of_machines(org_id=org_id, machine_ids=all_ids)
    incidents = await incidents_by_ids([i["incident_id"] for i in instances if i["incident_id"]])
    instance_of = {i["key"]: i for i in instances}
    instances_by_machine: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    for i in instances:
        instances_by_machine[i["machine_id"]].append(i)
    collections_by_machine: dict[ObjectId, list[Any]] = defaultdict(list)
    for c in collections:
        collections_by_machine[c.machine_id].append(c)

    for twin in twins:
        machine = machines.get(twin["_id"])
        if machine is None:
            continue
        shop = shop_of.get(machine.shop_id)
        facts = MachineFacts(
            machine=machine,
            shop=shop,
            twin=twin,
            state=state_of.get(machine.id),
            health=effective_settings(settings, org, shop),
            collections=collections_by_machine.get(machine.id, []),
            forecast=forecasts.get(machine.id),
        )
        assessment = assess(facts, ev.rules, now)
        wanted = {
            (rule, subject): cond
            for (rule, subject), cond in assessment.conditions.items()
            if rule is not R.OFFLINE
        }
        known = {
            (R(i["rule"]), i["subject"])
            for i in instances_by_machine.get(machine.id, [])
            if R(i["rule"]) is not R.OFFLINE
        }
        offline = twin["connectivity"] == Connectivity.OFFLINE.value
        due = [assessment.next_change_at]
        for rule, subject in sorted(wanted.keys() | known):
            suppression = Suppression(
                silenced_by=_silenced(ev.silences, machine.shop_id, machine.id, rule),
                inhibited_by="the machine is offline" if offline else None,
            )
            step = _step(
                ev,
                instance_of,
                incidents,
                machine,
                rule,
                subject,
                wanted.get((rule, subject)),
                suppression,
            )
            due.append(step.instance["next_check_at"])
        ev.next_due[machine.id] = min((d for d in due if d is not None), default=None)

    for shop_id in shop_ids:
        _evaluate_shop_offline(
            ev,
            shop_id,
            shop_of.get(shop_id),
            by_shop[shop_id],
            machines,
            instance_of,
            incidents,
            machines_of_shop[shop_id],
        )
    await _commit(ev)
    return ev


def _step(
    ev: OrgEvaluation,
    instance_of: dict[str, dict[str, Any]],
    incidents: dict[ObjectId, dict[str, Any]],
    machine: Machine | None,
    rule: AlertRule,
    subject: str,
    condition: Condition | None,
    suppression: Suppression,
    *,
    shop_id: ObjectId | None = None,
) -> Step:
    key = machine_key(machine.id, rule, subject) if machine else shop_key(shop_id, rule)
    instance = instance_of.get(key) or new_instance(
        org_id=ev.org_id,
        shop_id=machine.shop_id if machine else shop_id,
        machine_id=machine.id if machine else None,
        rule=rule,
        subject=subject,
        key=key,
    )
    if machine is not None and instance["shop_id"] != machine.shop_id:
        instance = {**instance, "shop_id": machine.shop_id}  # the machine moved
    incident = incidents.get(instance["incident_id"]) if instance["incident_id"] else None
    step = evaluate_key(
        instance,
        incident,
        condition=condition,
        settings=ev.rules[rule],
        suppression=suppression,
        now=ev.now,
    )
    if step.changed:
        step.instance.setdefault("_expected_version", instance["version"])
        ev.steps.append(step)
    return step


def _evaluate_shop_offline(
    ev: OrgEvaluation,
    shop_id: ObjectId,
    shop: Any,
    state: _Shop,
    claimed: dict[ObjectId, Machine],
    instance_of: dict[str, dict[str, Any]],
    incidents: dict[ObjectId, dict[str, Any]],
    shop_machines: list[Machine],
) -> None:
    """The OFFLINE keys of every machine of the shop and the shop's own key.

    The shop-level incident opens when every machine is offline and stays open while any of
    them still is: the machines coming back one by one must not each notify the OFFLINE
    they were inhibited from notifying."""
    shop_instance = instance_of.get(shop_key(shop_id, R.OFFLINE))
    shop_open = bool(shop_instance and shop_instance["incident_id"] in incidents)
    outage = state.all_offline() or (shop_open and state.any_offline())
    grace = timedelta(seconds=ev.settings.offline_grace_seconds)
    for machine in shop_machines:
        offline = state.connectivity.get(machine.id) == Connectivity.OFFLINE.value
        if machine.decommissioned_at is not None:
            offline = False
        key = machine_key(machine.id, R.OFFLINE, "")
        if not offline and key not in instance_of:
            continue
        instance = instance_of.get(key)
        incident = (
            incidents.get(instance["incident_id"]) if instance and instance["incident_id"] else None
        )
        waiting = state.others_late(machine.id) and (
            incident is None
            or incident["fired_at"] is None
            or ev.now - incident["fired_at"] < grace
        )
        inhibited = (
            "every machine of the shop is offline"
            if outage
            else "another machine of the shop is late"
            if waiting
            else None
        )
        condition = _offline_condition(shop, ev.now) if offline else None
        suppression = Suppression(
            silenced_by=_silenced(ev.silences, shop_id, machine.id, R.OFFLINE),
            inhibited_by=inhibited,
        )
        step = _step(ev, instance_of, incidents, machine, R.OFFLINE, "", condition, suppression)
        if machine.id in ev.next_due or machine.id in claimed:
            current = ev.next_due.get(machine.id)
            nxt = step.instance["next_check_at"]
            if waiting and offline:
                nxt = ev.now + timedelta(seconds=5)  # look again while the shop settles
            ev.next_due[machine.id] = min((d for d in (current, nxt) if d), default=None)
    condition = _offline_condition(shop, ev.now, shop_level=True) if outage else None
    if outage or shop_key(shop_id, R.OFFLINE) in instance_of:
        suppression = Suppression(
            silenced_by=_silenced(ev.silences, shop_id, None, R.OFFLINE), inhibited_by=None
        )
        _step(
            ev, instance_of, incidents, None, R.OFFLINE, "", condition, suppression, shop_id=shop_id
        )


def _offline_condition(shop: Any, now: datetime, *, shop_level: bool = False) -> Condition:
    """OFFLINE holds; outside the shop's opening hours it is only INFO."""
    during_hours = shop is None or is_open(shop.opening_hours, shop.timezone, now)
    summary = "every machine of the shop is offline" if shop_level else "machine offline"
    return Condition(summary, {}, severity=None if during_hours else Severity.INFO)


async def _commit(ev: OrgEvaluation) -> None:
    committed = []
    for step in ev.steps:
        expected = step.instance.pop("_expected_version")
        try:
            await commit_step(step, expected_version=expected, now=ev.now)
        except InstanceChanged:
            # Another evaluator got there first; this machine stays due and is looked at again.
            machine_id = step.instance["machine_id"]
            if machine_id is not None:
                ev.next_due[machine_id] = ev.now
            continue
        committed.append(step)
    await publish_steps(committed)
