"""Time buckets aligned to a time zone (pure functions).

HOUR buckets are UTC hours (they coincide with local hours in every whole-hour zone). DAY,
WEEK (ISO, Monday) and MONTH buckets start at local midnight, so a DST-change day lasts 23 or
25 hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from models.timezones import zone_info


class Interval(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


def _local_midnight(year: int, month: int, day: int, tz: ZoneInfo) -> datetime:
    return datetime(year, month, day, tzinfo=tz).astimezone(UTC)


def bucket_start(at: datetime, interval: Interval, timezone: str) -> datetime:
    """The start (UTC) of the bucket containing `at`."""
    if interval is Interval.HOUR:
        return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    tz = zone_info(timezone)
    local = at.astimezone(tz)
    if interval is Interval.MONTH:
        return _local_midnight(local.year, local.month, 1, tz)
    day = local.date()
    if interval is Interval.WEEK:
        day -= timedelta(days=day.weekday())
    return _local_midnight(day.year, day.month, day.day, tz)


def next_bucket(start: datetime, interval: Interval, timezone: str) -> datetime:
    """The start of the bucket after the one starting at `start`."""
    if interval is Interval.HOUR:
        return start + timedelta(hours=1)
    tz = zone_info(timezone)
    local = start.astimezone(tz)
    if interval is Interval.MONTH:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return _local_midnight(year, month, 1, tz)
    step = timedelta(days=7 if interval is Interval.WEEK else 1)
    day = local.date() + step
    return _local_midnight(day.year, day.month, day.day, tz)


def bucket_starts(
    start: datetime, end: datetime, interval: Interval, timezone: str, *, limit: int
) -> list[datetime]:
    """Starts of every bucket intersecting `[start, end)`, in order; stops after `limit + 1`
    buckets, so a caller can refuse a range that is too long without building all of it."""
    starts: list[datetime] = []
    current = bucket_start(start, interval, timezone)
    while current < end and len(starts) <= limit:
        starts.append(current)
        current = next_bucket(current, interval, timezone)
    return starts


def local_date_instant(local_date: datetime, timezone: str) -> datetime:
    """A daily-summary key (local date at 00:00 UTC) as the instant of local midnight."""
    return _local_midnight(local_date.year, local_date.month, local_date.day, zone_info(timezone))


def as_local_date(instant: datetime, timezone: str) -> datetime:
    """The daily-summary key of the local date of `instant`."""
    local = instant.astimezone(zone_info(timezone))
    return datetime(local.year, local.month, local.day, tzinfo=UTC)
