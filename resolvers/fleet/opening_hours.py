"""Shop opening hours: validation, and whether a shop is open at an instant (pure).

Intervals are per ISO weekday (1 = Monday) in the shop's time zone, as minutes after local
midnight, `closes` exclusive and at most 1440. A shop open past midnight lists two
intervals (Friday 18:00-24:00, Saturday 00:00-02:00). No intervals at all means the hours
are unknown, which every rule treats as open (an alert is better than a missed one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from models.organization import OpeningHours
from models.timezones import zone_info
from resolvers.errors import CommonErrorCode, UserError

MINUTES_PER_DAY = 1440
MAX_INTERVALS = 7 * 4
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class OpeningInterval:
    """As the API takes and shows it: weekday and "HH:MM" local times."""

    weekday: int
    opens: str
    closes: str


def _minutes(text: str) -> int | None:
    match = _CLOCK.match(text)
    if not match:
        return None
    minutes = int(match[1]) * 60 + int(match[2])
    return minutes if minutes <= MINUTES_PER_DAY else None


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_opening_hours(
    field: str, intervals: list[OpeningInterval]
) -> tuple[list[OpeningHours], list[UserError]]:
    """The stored form of `intervals`, sorted, and a problem per bad or overlapping one."""
    problems: list[UserError] = []
    parsed: list[OpeningHours] = []
    if len(intervals) > MAX_INTERVALS:
        return [], [UserError(field, CommonErrorCode.INVALID, f"at most {MAX_INTERVALS} intervals")]
    for n, interval in enumerate(intervals):
        where = f"{field}[{n}]"
        opens, closes = _minutes(interval.opens), _minutes(interval.closes)
        if not 1 <= interval.weekday <= 7:
            problems.append(
                UserError(f"{where}.weekday", CommonErrorCode.INVALID, "must be 1 (Mon) to 7 (Sun)")
            )
        elif opens is None or closes is None:
            problems.append(
                UserError(where, CommonErrorCode.INVALID, "times are HH:MM from 00:00 to 24:00")
            )
        elif opens >= closes:
            problems.append(
                UserError(where, CommonErrorCode.INVALID, "opens must be before closes")
            )
        else:
            parsed.append(OpeningHours(weekday=interval.weekday, opens=opens, closes=closes))
    parsed.sort(key=lambda h: (h.weekday, h.opens))
    for before, after in pairwise(parsed):
        if before.weekday == after.weekday and after.opens < before.closes:
            problems.append(
                UserError(
                    field,
                    CommonErrorCode.INVALID,
                    f"intervals overlap on weekday {before.weekday} at {clock(after.opens)}",
                )
            )
    return parsed, problems


def shown(hours: list[OpeningHours]) -> list[OpeningInterval]:
    return [OpeningInterval(h.weekday, clock(h.opens), clock(h.closes)) for h in hours]


def is_open(hours: list[OpeningHours], timezone: str, at: datetime) -> bool:
    """Whether the shop is open at `at`; True when its hours are unknown (none given)."""
    if not hours:
        return True
    local = at.astimezone(zone_info(timezone))
    minute = local.hour * 60 + local.minute
    weekday = local.isoweekday()
    return any(h.weekday == weekday and h.opens <= minute < h.closes for h in hours)
