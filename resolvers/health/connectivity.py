"""The connectivity state machine (pure): what silence since the last message means.

    NEVER_SEEN --message--> LIVE --silence > late_after--> LATE --silence > offline_after--> OFFLINE
                             ^                               |                                 |
                             +-----------message-------------+---------------message----------+

`late_after` is three heartbeat intervals and `offline_after` the offline grace. A silence past
both thresholds at once (the evaluator did not run in between) moves LIVE straight to OFFLINE.
DECOMMISSIONED is terminal. Every transition happens at a deterministic instant (the last
message plus the threshold), whichever worker records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.health import Connectivity

LATE_AFTER_HEARTBEATS = 3
SILENT_STATES = frozenset({Connectivity.LIVE, Connectivity.LATE})


@dataclass(frozen=True)
class Thresholds:
    late_after_seconds: int
    offline_after_seconds: int

    @classmethod
    def of(cls, *, heartbeat_interval_seconds: int, offline_grace_seconds: int) -> Thresholds:
        return cls(LATE_AFTER_HEARTBEATS * heartbeat_interval_seconds, offline_grace_seconds)


def state_after_silence(
    last_seen_at: datetime, now: datetime, thresholds: Thresholds
) -> tuple[Connectivity, datetime]:
    """The state `now` for a machine last heard from at `last_seen_at`, and since when."""
    offline_at = last_seen_at + timedelta(seconds=thresholds.offline_after_seconds)
    late_at = last_seen_at + timedelta(seconds=thresholds.late_after_seconds)
    if now > offline_at:
        return Connectivity.OFFLINE, offline_at
    if now > late_at and late_at < offline_at:
        return Connectivity.LATE, late_at
    return Connectivity.LIVE, last_seen_at


def next_check_at(
    connectivity: Connectivity, last_seen_at: datetime | None, thresholds: Thresholds
) -> datetime | None:
    """When silence would next change `connectivity`; None when only a message can."""
    if connectivity not in SILENT_STATES or last_seen_at is None:
        return None
    offline = last_seen_at + timedelta(seconds=thresholds.offline_after_seconds)
    late = last_seen_at + timedelta(seconds=thresholds.late_after_seconds)
    if connectivity is Connectivity.LIVE and late < offline:
        return late
    return offline
