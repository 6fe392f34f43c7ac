"""`cashcc rebuild-summaries`: argument parsing and the printed report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId

from models.analytics_store import Grain
from models.scope import Scope
from resolvers.analytics.rebuild import rebuild_summaries

EXIT_DIFFERENCES = 3
MAX_PRINTED = 50
LABELS = {
    Grain.HOUR: "hourly",
    Grain.DAY: "daily",
    Grain.MONTH: "monthly flow",
    Grain.DEMAND: "daily demand",
}


def instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


async def run_rebuild(args: argparse.Namespace) -> int:
    """Run the check (and `--apply`) for one organization and print what differs."""
    try:
        org_id = ObjectId(args.org)
    except (InvalidId, TypeError):
        print(f"error: --org: {args.org!r} is not an id (see `cashcc orgs`)", file=sys.stderr)
        return 2
    for option, value in (("--from", args.start), ("--to", args.end)):
        try:
            instant(value)
        except ValueError:
            print(f"error: {option}: {value!r} is not an ISO 8601 instant", file=sys.stderr)
            return 2
    start, end = instant(args.start), instant(args.end)
    if start >= end:
        print("error: --from must be before --to", file=sys.stderr)
        return 2
    report = await rebuild_summaries(
        scope=Scope.organization(org_id), start=start, end=end, apply=args.apply
    )
    for diff in report.differences[:MAX_PRINTED]:
        key = ", ".join(f"{k}={v}" for k, v in diff.key.items())
        print(f"{diff.grain.value}: {key}\n  stored:   {diff.stored}\n  expected: {diff.expected}")
    if len(report.differences) > MAX_PRINTED:
        print(f"... and {len(report.differences) - MAX_PRINTED} more")
    checked = ", ".join(f"{n} {LABELS[g]}" for g, n in report.checked.items())
    verb = "replaced" if args.apply else "found"
    print(f"checked {checked} summaries; {len(report.differences)} differences {verb}")
    return EXIT_DIFFERENCES if report.differences and not args.apply else 0
