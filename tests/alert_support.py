"""Helpers of the alert tests: drive the evaluators at an injected instant, read what was
notified (the timeline entries sent to webhooks) per incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config import Settings
from models.alerts import Incident
from models.health import MachineTwin
from models.health_store import find_twin
from models.organization import utcnow
from models.scope import Scope
from resolvers.alerts.evaluator import evaluate_alerts
from resolvers.health.evaluator import evaluate_connectivity
from tests.factories import Factory, Tenant, heartbeat, message


@dataclass
class Clock:
    """The instant the evaluators are told it is: `start` plus what the test advanced."""

    start: datetime
    offset: timedelta = timedelta(0)

    def at(self, seconds: float) -> datetime:
        self.offset = timedelta(seconds=seconds)
        return self.now

    @property
    def now(self) -> datetime:
        return self.start + self.offset


async def evaluate(settings: Settings, now: datetime, *, connectivity: bool = True) -> None:
    """What a worker's loops do at `now`: connectivity first, then the alerts it caused.

    `connectivity=False` leaves connectivity as the last contact made it: contact times are
    the server's real clock, so judging them at an instant far ahead would call a machine
    that just spoke silent."""
    if connectivity:
        await evaluate_connectivity(now=now, settings=settings)
    await evaluate_alerts(now=now, settings=settings)


async def alerts_pass(settings: Settings, now: datetime) -> None:
    """The alert evaluator alone at `now` (connectivity stays as the last contact made it)."""
    await evaluate(settings, now, connectivity=False)


async def seen_clock(factory: Factory, tenant: Tenant, machines: int = 1) -> Clock:
    """Every machine of the tenant heard from once; the clock starts at the last contact."""
    pairs = list(zip(tenant.machine_ids, tenant.machine_keys, strict=True))
    for machine_id, key in pairs[:machines]:
        await factory.report(tenant, [beat(1)], machine_id=machine_id, api_key=key)
    return Clock(max([await last_seen(tenant, index) for index in range(machines)]))


async def last_seen(tenant: Tenant, machine_index: int = 0) -> datetime:
    """When the cloud last heard from the tenant's machine (its twin's `last_seen_at`)."""
    twin = await find_twin(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[machine_index].id
    )
    assert twin is not None
    return twin["last_seen_at"]


def jam(seq: int, *, cleared: bool = False, module: int = 1) -> dict[str, Any]:
    kind = "ERROR_CLEARED" if cleared else "ERROR"
    return message(
        kind, seq, at=utcnow(), event_id=f"jam-{seq}", error={"code": "NOTE_JAM", "module": module}
    )


def beat(seq: int) -> dict[str, Any]:
    """A heartbeat stamped with the real clock (a device clock in step with ours)."""
    return heartbeat(seq, at=utcnow())


async def incidents(tenant: Tenant, **query: Any) -> list[dict[str, Any]]:
    docs = Incident.get_pymongo_collection().find({"org_id": tenant.org.id, **query})
    return await docs.sort([("opened_at", 1), ("_id", 1)]).to_list(length=None)


async def notified(tenant: Tenant, **query: Any) -> list[tuple[str, str, str]]:
    """(rule, machine id or 'shop', event) of every transition sent to webhooks, in order."""
    sent = []
    for incident in await incidents(tenant, **query):
        where = "shop" if incident["machine_id"] is None else str(incident["machine_id"])
        for entry in incident["timeline"]:
            if entry["notified"]:
                sent.append((incident["rule"], where, entry["event"], entry["at"]))
    return [(rule, where, state) for rule, where, state, _ in sorted(sent, key=lambda s: s[3])]


async def last_heard(tenant: Tenant, machine_index: int, *, at: datetime) -> None:
    """Pretend the machine was last heard from at `at` (contact times are the server's real
    clock, which a test cannot move back)."""
    twins = MachineTwin.get_pymongo_collection()
    await twins.update_one(
        {"_id": tenant.machines[machine_index].id},
        {"$set": {"last_seen_at": at, "next_check_at": at}},
    )
