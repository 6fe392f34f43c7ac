"""Time-zone names: the one rule for which zones the service accepts.

A zone is accepted when it is an IANA name of the tz database Python ships with
(`zoneinfo.available_timezones()`), other than the machine-dependent `localtime` and the
placeholder `Factory`. Checking membership first means a name is never handed to the zone
loader unvalidated: `ZoneInfo("America")` raises IsADirectoryError, and `posixrules` loads in
Python but MongoDB refuses it in `$dateTrunc`.
"""

from __future__ import annotations

from functools import cache
from typing import NewType
from zoneinfo import ZoneInfo, available_timezones

TimeZoneName = NewType("TimeZoneName", str)
MAX_TIME_ZONE_LENGTH = 64
_EXCLUDED = frozenset({"localtime", "Factory"})


@cache
def _accepted() -> frozenset[str]:
    return frozenset(available_timezones()) - _EXCLUDED


def time_zone_name(value: str) -> TimeZoneName | None:
    """`value` as an accepted zone name, or None."""
    if len(value) > MAX_TIME_ZONE_LENGTH or value not in _accepted():
        return None
    return TimeZoneName(value)


@cache
def zone_info(name: str) -> ZoneInfo:
    """The zone of an accepted name (stored names were accepted when they were written)."""
    return ZoneInfo(name)
