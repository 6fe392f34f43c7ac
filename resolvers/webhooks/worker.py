"""The delivery worker: every API worker process sends the outbox's due deliveries.

A pass claims due deliveries one at a time with a lease (one conditional update moves the
row's `next_attempt_at` to the lease's end and stamps a token), so two workers or hosts never
send the same delivery at once, and sends up to `CONCURRENCY` at a time. A worker killed
mid-delivery leaves its lease behind; when it lapses (`WEBHOOK_LEASE_SECONDS`) any worker
claims the row again and sends the same body with the same delivery id: at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from config import Settings
from infra.signals import DELIVERIES_DUE
from models.background import run_rounds
from models.organization import utcnow
from models.webhook_store import claim_disable_alert, claim_due_delivery
from resolvers.webhooks.delivery import (
    DEFAULT_TRANSPORT,
    LEASE_OWNER,
    Clock,
    Outcome,
    Transport,
    attempt_delivery,
    new_lease,
    tell_disabled,
)

log = logging.getLogger(__name__)

# Deliveries sent at once by one process, and started per pass (a full pass is followed by
# the next one at once, without waiting for the interval).
CONCURRENCY = 8
PASS_LIMIT = 200


@dataclass
class DeliveryPass:
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values()) + self.errors


async def claim_next(
    *, clock: Clock, settings: Settings, org_id: ObjectId | None = None
) -> dict[str, Any] | None:
    now = clock()
    lease_until, token = new_lease(now, settings)
    return await claim_due_delivery(
        now=now, lease_until=lease_until, token=token, owner=LEASE_OWNER, org_id=org_id
    )


async def tell_overdue_disablings(
    *, clock: Clock, settings: Settings, org_id: ObjectId | None = None
) -> int:
    """Tell the alerts engine about disablings whose worker died before it could; how many."""
    told = 0
    while True:
        now = clock()
        lease_until, _ = new_lease(now, settings)
        webhook = await claim_disable_alert(now=now, lease_until=lease_until, org_id=org_id)
        if webhook is None:
            return told
        try:
            await tell_disabled(webhook, failing_since=webhook.failing_since or now)
        except Exception:
            # Leased: tried again when the lease lapses, and the deliveries go on meanwhile.
            log.exception("webhooks: could not raise the alert about webhook %s", webhook.id)
            continue
        told += 1


async def deliver_due(
    *,
    settings: Settings,
    clock: Clock = utcnow,
    org_id: ObjectId | None = None,
    limit: int = PASS_LIMIT,
    transport: Transport = DEFAULT_TRANSPORT,
) -> DeliveryPass:
    """Send what is due by `clock()` (every organization's, or only `org_id`'s), at most
    `limit` deliveries. A delivery whose attempt raised keeps its lease and is tried again
    when the lease lapses."""
    started = time.perf_counter()
    result = DeliveryPass()
    await tell_overdue_disablings(clock=clock, settings=settings, org_id=org_id)
    slots = asyncio.Semaphore(CONCURRENCY)
    tasks: list[asyncio.Task] = []

    async def one(delivery: dict[str, Any]) -> None:
        try:
            outcome = await attempt_delivery(
                delivery, clock=clock, settings=settings, transport=transport
            )
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        except Exception:
            result.errors += 1
            log.exception("webhooks: delivery %s failed to record", delivery["_id"])
        finally:
            slots.release()

    try:
        for _ in range(limit):
            await slots.acquire()
            try:
                delivery = await claim_next(clock=clock, settings=settings, org_id=org_id)
            except BaseException:
                slots.release()
                raise
            if delivery is None:
                slots.release()
                break
            tasks.append(asyncio.create_task(one(delivery), name="webhook-delivery"))
    finally:
        await asyncio.gather(*tasks, return_exceptions=True)
    result.seconds = time.perf_counter() - started
    return result


async def run_delivery_worker(settings: Settings, *, clock: Clock = utcnow) -> None:
    """Deliver every WEBHOOK_DELIVERY_INTERVAL_SECONDS until cancelled, and at once when this
    process enqueued deliveries; a failed pass is logged and the next one runs on time."""
    interval = settings.webhook_delivery_interval_seconds

    async def one_pass() -> bool:
        """One pass; whether it reached PASS_LIMIT (then the next one starts at once)."""
        outcome = await deliver_due(settings=settings, clock=clock)
        if outcome.attempted:
            log.info(
                "webhooks: %s deliveries attempted (%s) in %.3f s",
                outcome.attempted,
                ", ".join(f"{k.value.lower()} {v}" for k, v in outcome.outcomes.items()),
                outcome.seconds,
            )
        return outcome.attempted >= PASS_LIMIT

    async def pause(full: bool | None) -> None:
        if not full:
            await DELIVERIES_DUE.wait(interval)

    await run_rounds(one_pass, pause, log=log, failure="webhooks: delivery pass failed")
