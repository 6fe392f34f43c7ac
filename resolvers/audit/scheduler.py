"""The checkpoint scheduler every worker process runs (started by graph/app.py's lifespan).

Checkpoints are due at every full hour (UTC) and at each shop's local midnight. Each due run
is a *slot* in the database (`hour:2026-11-30T14`, `day:Europe/Berlin:2026-11-29`): the worker
that inserts the slot runs it; the others see it taken and skip. A slot whose worker died is
taken over once its lease ends. A slot is only run within an hour of its time: after an
outage the next slot checkpoints everything that grew, instead of a late run that would
claim an `as_of` it did not observe. The clock is injected, so tests drive `tick` directly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from config import Settings
from models.audit_store import claim_slot, finish_slot
from models.background import run_rounds
from models.org_store import shops_by_timezone
from models.organization import utcnow
from models.timezones import zone_info
from resolvers.audit.checkpoints import produce_checkpoints

log = logging.getLogger(__name__)

MAX_LATENESS = timedelta(hours=1)
LEASE = timedelta(minutes=10)
SLOT_RETENTION = timedelta(days=35)


@dataclass(frozen=True)
class Slot:
    """A due checkpoint run: its key, the time it closes, and its shops (None: every log)."""

    key: str
    as_of: datetime
    shop_ids: list[ObjectId] | None = None


def due_slots(now: datetime, zones: dict[str, list[ObjectId]]) -> list[Slot]:
    """The hourly slot of `now`, and the end-of-day slot of every zone whose local midnight
    was less than MAX_LATENESS ago."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    slots = [Slot(f"hour:{hour:%Y-%m-%dT%H}", hour)]
    for zone, shop_ids in sorted(zones.items()):
        local = now.astimezone(zone_info(zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        if now - midnight < MAX_LATENESS:
            ended = (local - timedelta(days=1)).date()
            slots.append(Slot(f"day:{zone}:{ended.isoformat()}", midnight, shop_ids))
    return slots


class CheckpointScheduler:
    """Runs the slots that are due, at most one worker per slot."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.owner = owner or uuid.uuid4().hex

    async def tick(self) -> dict[str, int]:
        """Run every due slot this worker can claim; `slot -> checkpoints stored`."""
        now = self.clock()
        ran: dict[str, int] = {}
        for slot in due_slots(now, await shops_by_timezone()):
            claimed = await claim_slot(
                slot=slot.key,
                owner=self.owner,
                now=now,
                lease_until=now + LEASE,
                expires_at=now + SLOT_RETENTION,
            )
            if not claimed:
                continue
            run = await produce_checkpoints(
                settings=self.settings, now=self.clock(), as_of=slot.as_of, shop_ids=slot.shop_ids
            )
            await finish_slot(
                slot=slot.key, owner=self.owner, now=self.clock(), checkpoints=len(run.stored)
            )
            ran[slot.key] = len(run.stored)
            if run.stored or run.refused:
                log.info(
                    "checkpoint slot %s: %s signed, %s lost to another worker, %s refused",
                    slot.key,
                    len(run.stored),
                    run.lost,
                    len(run.refused),
                )
        return ran

    async def run_forever(self) -> None:
        """Tick every AUDIT_SCHEDULER_TICK_SECONDS until cancelled; a failed tick is logged
        and the next one tries again."""
        await run_rounds(
            self.tick,
            lambda _: asyncio.sleep(self.settings.audit_scheduler_tick_seconds),
            log=log,
            failure="checkpoint scheduler tick failed",
        )
