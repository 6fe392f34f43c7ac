"""The rebuild command reproduces the incrementally maintained summaries exactly, reports
differences, and repairs them with --apply."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from config import Settings
from models.analytics_store import Grain
from models.organization import utcnow
from models.scope import Scope
from models.summary_store import collection
from resolvers.analytics.rebuild import rebuild_summaries
from tests.analytics_helpers import build_world, utc
from tests.audit_cli_support import cashcc, database_env
from tests.conftest import DB_NAME
from tests.factories import Factory

ROOT = Path(__file__).resolve().parent.parent


async def seeded(factory: Factory):
    """Three machines, two shops, 400 records over 10 days incl. the spring DST change,
    sent in concurrent batches so summary upserts of one hour race each other."""
    world = await build_world(factory)
    start = utc(2026, 3, 24)
    for i in range(400):
        machine = world.tenant.machines[i % 3]
        at = start + timedelta(minutes=37 * i)
        kind, denom = ("N", 500) if machine.currency == "EUR" else ("C", 25)
        type_ = ["DEPOSIT", "WITHDRAWAL", "DEPOSIT", "ADJUSTMENT"][i % 4]
        count = -1 if type_ == "ADJUSTMENT" else 1 + i % 5
        world.add(machine, type_, at, (kind, denom, count), ("N", 1000 if kind == "N" else 100, 2))
    batches = [world.records[i::4] for i in range(4)]
    for batch in batches:  # four rounds; machines in each round concurrently
        await world.ingest(batch)
    return world


async def cli(*args: str, settings: Settings) -> tuple[int, str]:
    """`cashcc rebuild-summaries ARGS` on the test database: exit code, stdout and stderr."""
    env = {**database_env(settings), "MONGODB_DB": DB_NAME}
    run = await cashcc("rebuild-summaries", *args, env=env)
    return run.code, "\n".join(run.out + run.err)


async def test_rebuild_reproduces_summaries_and_repairs_differences(
    factory: Factory, settings: Settings
) -> None:
    world = await seeded(factory)
    org = world.tenant.org.id
    scope = Scope.organization(org)
    start, end = utc(2026, 3, 20), utcnow() + timedelta(hours=1)

    report = await rebuild_summaries(scope=scope, start=start, end=end)
    assert report.differences == []
    assert report.checked[Grain.HOUR] >= 200  # 400 records, 37 minutes apart
    assert report.checked[Grain.DAY] >= 3 * 10
    assert report.checked[Grain.MONTH] >= 3  # March for each machine
    assert report.checked[Grain.DEMAND] >= 3 * 10

    # Damage one summary of each kind, as a bug or a partial restore would.
    await collection(Grain.HOUR).update_one({"org_id": org}, {"$inc": {"t.DEPOSIT.a": 7, "n": 1}})
    await collection(Grain.DAY).delete_one({"org_id": org})
    await collection(Grain.MONTH).update_one({"org_id": org}, {"$inc": {"a.DEPOSIT.25": 100}})
    await collection(Grain.DEMAND).update_one({"org_id": org}, {"$unset": {"p": ""}})
    code, out = await cli(
        "--org", str(org), "--from", start.isoformat(), "--to", end.isoformat(), settings=settings
    )
    assert code == 3, out
    assert "4 differences found" in out
    assert "stored:   None" in out  # the deleted daily summary
    assert "month: " in out
    assert "demand: " in out

    code, out = await cli(
        "--org",
        str(org),
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
        "--apply",
        settings=settings,
    )
    assert code == 0, out
    assert "4 differences replaced" in out
    code, out = await cli(
        "--org", str(org), "--from", start.isoformat(), "--to", end.isoformat(), settings=settings
    )
    assert code == 0, out
    assert "0 differences found" in out


async def test_rebuild_cli_refuses_bad_arguments(settings: Settings) -> None:
    code, out = await cli(
        "--org", "nope", "--from", "2026-01-01", "--to", "2026-01-02", settings=settings
    )
    assert code == 2
    assert "error" in out


async def test_racing_batches_of_one_machine_count_each_transaction_once(
    factory: Factory,
) -> None:
    """Batches of one machine racing for its state abort and retry whole transactions; the
    summaries must keep exactly one count per transaction (nothing from aborted attempts)."""
    world = await build_world(factory, shops=1)
    machine = world.tenant.machines[0]
    at = utc(2026, 5, 4, 9)
    for i in range(60):
        world.add(machine, "DEPOSIT", at + timedelta(minutes=i), ("N", 500, 1 + i % 3))
    batches = [world.records[i::6] for i in range(6)]
    await asyncio.gather(*(world.ingest(batch) for batch in batches))
    docs = await collection(Grain.HOUR).find({"machine_id": machine.id}).to_list(None)
    assert sum(d["n"] for d in docs) == 60
    assert sum(d["s"]["N500"]["DEPOSIT"] for d in docs) == sum(1 + i % 3 for i in range(60))
    report = await rebuild_summaries(
        scope=Scope.organization(world.tenant.org.id), start=at, end=at + timedelta(hours=2)
    )
    assert report.differences == []


async def test_rebuild_of_part_of_a_month_keeps_the_other_days(factory: Factory) -> None:
    world = await seeded(factory)
    org = world.tenant.org.id
    scope = Scope.organization(org)
    months = collection(Grain.MONTH)
    machine = world.tenant.machines[0]
    march = {"machine_id": machine.id, "bucket": utc(2026, 3, 1)}
    before = await months.find_one(march)
    assert before is not None
    day_25, day_28 = 24, 27  # day-of-month indices
    assert before["a"]["DEPOSIT"][day_25] > 0
    await months.update_one(march, {"$inc": {"a.DEPOSIT.27": 5, "a.DEPOSIT.24": 9}})

    # Berlin days 27-29 March only: day 28 is repaired, day 25 (outside) is left as stored.
    part = {"start": utc(2026, 3, 26, 23), "end": utc(2026, 3, 29, 22)}
    report = await rebuild_summaries(scope=scope, apply=True, **part)
    assert [(d.grain, d.key["machine_id"]) for d in report.differences] == [
        (Grain.MONTH, machine.id)
    ]
    after = await months.find_one(march)
    assert after is not None
    assert after["a"]["DEPOSIT"][day_28] == before["a"]["DEPOSIT"][day_28]
    assert after["a"]["DEPOSIT"][day_25] == before["a"]["DEPOSIT"][day_25] + 9
    assert after["n"] == before["n"]
    whole = await rebuild_summaries(scope=scope, start=utc(2026, 3, 20), end=utcnow())
    [diff] = whole.differences  # day 25 still carries the damage
    assert (diff.grain, diff.key["machine_id"]) == (Grain.MONTH, machine.id)
    # The rebuild works one machine and local date at a time: the difference is day 25's.
    inside = range(day_25, day_25 + 1)
    assert diff.expected == {
        "n": [before["n"][i] for i in inside],
        "a": {t: [v[i] for i in inside] for t, v in sorted(before["a"].items())},
    }
