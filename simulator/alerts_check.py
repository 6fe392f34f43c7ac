"""End-of-run check of a faults run's alerts, through the public API and the receiver:

- each faulted machine has exactly one incident of its fault's rule, fired once (and, for a
  fault the run resolves, resolved once), and the machine shows the fault's connectivity
  and status;
- a machine that counted suspect notes has SUSPECT_NOTES incidents (its own counts explain
  them), each fired once; one that counted none has none;
- no other incident of any machine ever fired (one that cleared within its hold was never
  notified: allowed, counted as held back);
- the receiver got, with a valid signature, exactly one delivery per notified transition
  of those incidents and nothing else, and the cloud recorded each as DELIVERED.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from simulator.api import CloudApi
from simulator.faults import EXPECTED
from simulator.health_api import alerts, deliveries, machine_health
from simulator.receiver import WebhookReceiver


def notified(incident: dict[str, Any]) -> list[str]:
    """The transitions of the incident that were sent to webhooks, in order."""
    return [t["state"] for t in incident["timeline"] if t["notified"]]


@dataclass
class AlertsCheck:
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    incidents: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    held_back: int = 0
    deliveries: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())


def _machine_expectations(fault: str | None, suspect: bool, mine: list[dict[str, Any]],
                          problems: list[str]) -> None:  # fmt: skip
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in mine:
        by_rule[incident["rule"]].append(incident)
    expected_rule, resolves = EXPECTED[fault] if fault else (None, False)
    if expected_rule is not None:
        found = by_rule.pop(expected_rule, [])
        want = ["FIRING", "RESOLVED"] if resolves else ["FIRING"]
        if len(found) != 1:
            problems.append(f"{fault}: {len(found)} {expected_rule} incidents, expected 1")
        for incident in found:
            if notified(incident) != want:
                problems.append(f"{fault}: {expected_rule} notified {notified(incident)}, "
                                f"expected {want}")  # fmt: skip
    counted = by_rule.pop("SUSPECT_NOTES", [])
    if suspect and not counted:
        problems.append("suspect notes counted but no SUSPECT_NOTES incident")
    if not suspect and counted:
        problems.append(f"{len(counted)} SUSPECT_NOTES incidents without a count")
    for incident in counted:
        if notified(incident).count("FIRING") != 1:
            problems.append(f"SUSPECT_NOTES notified {notified(incident)}")
    for rule, rest in sorted(by_rule.items()):
        for incident in rest:
            if notified(incident):
                state, sent = incident["state"], notified(incident)
                problems.append(f"unexpected {rule} {incident['subject']} ({state}, sent {sent})")


def _status_expectations(fault: str | None, health: dict[str, Any], seen_offline: bool,
                         problems: list[str]) -> None:  # fmt: skip
    if health["connectivity"] != "LIVE":
        problems.append(f"connectivity {health['connectivity']}, expected LIVE")
    if fault == "offline" and not seen_offline:
        problems.append("never seen OFFLINE through the API")
    if fault == "jam":
        errors = {(e["code"], e["category"]) for e in health["activeErrors"]}
        if ("NOTE_JAM", "NOTE_JAM") not in errors:
            problems.append(f"active errors {sorted(errors)}, expected a NOTE_JAM")
        if (health["status"] or {}).get("status") != "ERROR":
            problems.append(f"status {health['status']}, expected ERROR")
    box = [u for u in (health["units"] or {}).get("units", []) if u["purpose"] == "COLLECTION_BOX"]
    box_status = box[0]["status"] if box else None
    if (fault == "full") != (box_status == "FULL"):
        problems.append(f"collection box {box_status}")


async def incidents_of(api: CloudApi, machine_ids: list[str]) -> list[dict[str, Any]]:
    return [i async for i in alerts(api, machine_ids)]


def expectations_met(
    faults: dict[str, str], suspect: set[str], incidents: list[dict[str, Any]],
    receiver: WebhookReceiver,
) -> bool:  # fmt: skip
    """Whether every fault's incidents reached their final state and every notified
    transition arrived: the moment to run `check_alerts`."""
    received = {(d.incident["id"], d.type) for d in receiver.deliveries.values()}
    for machine_id, fault in faults.items():
        rule, resolves = EXPECTED[fault]
        want = ["FIRING", "RESOLVED"] if resolves else ["FIRING"]
        mine = [i for i in incidents if i["machine"] and i["machine"]["id"] == machine_id]
        if not any(i["rule"] == rule and notified(i) == want for i in mine):
            return False
    for machine_id in suspect:
        mine = [i for i in incidents if i["machine"] and i["machine"]["id"] == machine_id]
        if not any(i["rule"] == "SUSPECT_NOTES" and "FIRING" in notified(i) for i in mine):
            return False
    return all((i["id"], state) in received for i in incidents for state in notified(i))


async def check_alerts(api: CloudApi, *, faults: dict[str, str], suspect: set[str],
                       seen_offline: set[str], machine_ids: list[str], labels: dict[str, str],
                       receiver: WebhookReceiver, webhook_id: str) -> AlertsCheck:  # fmt: skip
    """Run every check of the module docstring; problems are keyed by machine label."""
    check = AlertsCheck()
    incidents = await incidents_of(api, machine_ids)
    by_machine: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents:
        if incident["machine"]:
            by_machine[incident["machine"]["id"]].append(incident)
    for machine_id in machine_ids:
        label = labels.get(machine_id, machine_id)
        mine = by_machine.get(machine_id, [])
        check.incidents[label] = Counter(i["rule"] for i in mine)
        check.held_back += sum(1 for i in mine if not notified(i))
        problems = check.problems[label]
        fault = faults.get(machine_id)
        _machine_expectations(fault, machine_id in suspect, mine, problems)
        health = await machine_health(api, machine_id)
        _status_expectations(fault, health, machine_id in seen_offline, problems)
    want = Counter((i["id"], state) for i in incidents for state in notified(i))
    got = Counter((d.incident["id"], d.type) for d in receiver.deliveries.values())
    check.deliveries = sum(got.values())
    webhook = check.problems["webhook"]
    if receiver.bad_signatures:
        webhook.append(f"{receiver.bad_signatures} deliveries with a bad signature")
    for key in sorted(set(want) | set(got)):
        if want[key] != got[key]:
            webhook.append(f"incident {key[0]} {key[1]}: {got[key]} deliveries, expected "
                           f"{want[key]}")  # fmt: skip
    rows = [row async for row in deliveries(api, webhook_id)]
    for row in rows:
        if row["status"] != "DELIVERED":
            webhook.append(f"delivery {row['id']} {row['status']}: {row['lastError']}")
    if {r["id"] for r in rows} != set(receiver.deliveries):
        webhook.append("the cloud's delivery rows differ from what the receiver got")
    return check
