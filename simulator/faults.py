"""Device faults of `cashcc simulate --faults` and what a faults run sets up around them.

- `offline`: the machine's link goes down once the cloud has heard from it; the local system
  keeps journaling and queueing heartbeats. When the public API shows the machine OFFLINE
  the link comes back and the backlog is replayed: one OFFLINE incident, fired once and
  resolved once.
- `jam`: after its last transaction the machine jams for good (NOTE_JAM that does not
  clear, status ERROR): one NOTE_JAM incident, firing at the end.
- `full`: a busy evening fills the collection box: one COLLECTION_FULL incident, firing.

The first machines of the fleet get the faults, one each; the others are clean. The run
gives the simulator's shops short health settings (so OFFLINE is reached in seconds),
shortens NOTE_JAM's hold, registers a webhook to its own receiver, and puts the rules back
and deletes the webhook at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.api import CloudApi
from simulator.health_api import (
    alert_rules,
    alerts,
    create_webhook,
    delete_webhook,
    machine_health,
    restore_alert_rule,
    set_shop_health,
    update_alert_rule,
)
from simulator.receiver import WebhookReceiver

DEVICE_FAULTS = ("offline", "jam", "full")
# fault -> (the rule it must trigger, whether the run resolves it)
EXPECTED = {"offline": ("OFFLINE", True), "jam": ("NOTE_JAM", False),
            "full": ("COLLECTION_FULL", False)}  # fmt: skip


def parse_faults(value: str) -> tuple[str, ...]:
    """`--faults` takes `all` or a comma-separated subset of DEVICE_FAULTS."""
    if value == "all":
        return DEVICE_FAULTS
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in DEVICE_FAULTS]
    if unknown or not names:
        raise ValueError(f"--faults: expected 'all' or some of {', '.join(DEVICE_FAULTS)}")
    return names


def assign(faults: tuple[str, ...], machine_ids: list[str]) -> dict[str, str]:
    """machine id -> its fault; at least one machine must stay clean to compare with."""
    if len(machine_ids) <= len(faults):
        raise ValueError(
            f"--faults: {len(faults)} faults need at least {len(faults) + 1} machines "
            f"(one clean), the fleet has {len(machine_ids)}"
        )
    return dict(zip(machine_ids, faults, strict=False))


async def until(predicate: Callable[[], Awaitable[bool]], *, within: float, what: str,
                interval: float = 0.25) -> None:  # fmt: skip
    """Wait until `predicate()` holds; TimeoutError naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


async def offline_episode(system: Any, api: CloudApi, *, within: float) -> None:
    """Cut the system's link once the cloud heard from it, restore it once the API shows
    the machine OFFLINE and its OFFLINE alert firing (`system.seen_offline` records that
    it did). Restoring on OFFLINE alone raced the alert evaluator: the next heartbeat could
    bring the machine back before any pass saw it offline, and no incident was raised."""
    machine_id = system.machine.machine_id

    async def heard() -> bool:
        client = system.client
        return client is not None and client.telemetry.status().acked > 0

    async def offline() -> bool:
        if (await machine_health(api, machine_id))["connectivity"] != "OFFLINE":
            return False
        incidents = [i async for i in alerts(api, [machine_id])]
        return any(i["rule"] == "OFFLINE" and i["state"] == "FIRING" for i in incidents)

    await until(heard, within=within, what=f"{system.machine.serial} to be heard")
    system.link_up.clear()
    try:
        await until(offline, within=within, what=f"{system.machine.serial} to go OFFLINE")
        system.seen_offline = True
    finally:
        system.link_up.set()


@dataclass
class FaultsSetup:
    """What a faults run changed, to be put back by `tear_down()`."""

    receiver: WebhookReceiver
    webhook_id: str
    shop_ids: list[str]
    rules_before: dict[str, dict[str, Any]] = field(default_factory=dict)


async def set_up(api: CloudApi, shop_ids: list[str], *, heartbeat: int, grace: int,
                 jam_hold: int) -> FaultsSetup:  # fmt: skip
    """Short health settings for the shops, NOTE_JAM's hold for a short run, a receiver and
    its webhook (the server must allow loopback targets: WEBHOOK_ALLOW_PRIVATE=true)."""
    for shop_id in shop_ids:
        await set_shop_health(api, shop_id, heartbeat=heartbeat, grace=grace)
    before = await alert_rules(api)
    await update_alert_rule(api, "NOTE_JAM", holdSeconds=jam_hold)
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        webhook_id, secret = await create_webhook(api, url=receiver.url, shop_ids=shop_ids)
    except BaseException:
        await receiver.stop()
        await restore_alert_rule(api, before["NOTE_JAM"])
        raise
    receiver.secret = secret
    return FaultsSetup(receiver, webhook_id, shop_ids, {"NOTE_JAM": before["NOTE_JAM"]})


async def tear_down(api: CloudApi, setup: FaultsSetup) -> None:
    """Delete the webhook (no deliveries to a receiver that is gone), put the rules back,
    let the shops inherit the organization's health settings again."""
    await delete_webhook(api, setup.webhook_id)
    await setup.receiver.stop()
    for entry in setup.rules_before.values():
        await restore_alert_rule(api, entry)
    for shop_id in setup.shop_ids:
        await set_shop_health(api, shop_id, heartbeat=None, grace=None)
