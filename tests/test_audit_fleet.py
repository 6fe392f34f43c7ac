"""A fleet's audit bundle through the command line: several shops and machines, a period that
spans several checkpoints, exported by `cashcc audit-export` (whole organization or `--shop`)
and verified end to end by `cashcc verify-bundle` with no database (docs/audit.md)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle import bundle_lines, csv_lines, period_logs, resolve_period
from resolvers.audit.checkpoints import produce_checkpoints
from tests import audit_cli_support as cashcc
from tests.audit_support import transactions
from tests.factories import Factory, Tenant, tx

ROUNDS = 3  # ingest rounds, each closed by a checkpoint one hour after the previous one


@dataclass(frozen=True)
class Fleet:
    """Two shops of two machines; machine i logged 2 + i, 3 + i, 4 + i records in the three
    rounds, checkpointed with `as_of` at `hours[0]`, `hours[1]`, `hours[2]`."""

    tenant: Tenant
    hours: list[datetime]

    def sizes(self, index: int) -> list[int]:
        """Machine `index`'s checkpoint sizes, one per round."""
        return [sum(2 + r + index for r in range(n + 1)) for n in range(ROUNDS)]


async def fleet(factory: Factory) -> Fleet:
    tenant = await factory.tenant(shops=2, machines_per_shop=2)
    first = (utcnow() - timedelta(hours=ROUNDS + 1)).replace(minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=r) for r in range(ROUNDS)]
    seq = [0] * len(tenant.machines)
    for r, hour in enumerate(hours):
        for i, (machine, key) in enumerate(zip(tenant.machines, tenant.machine_keys, strict=True)):
            batch = [tx(seq[i] + k, lines=[(1000, k)]) for k in range(1, 2 + r + i + 1)]
            await factory.ingest(tenant, batch, machine_id=str(machine.id), api_key=key)
            seq[i] += len(batch)
        await produce_checkpoints(
            settings=factory.settings, now=utcnow(), as_of=hour, org_id=tenant.org.id
        )
    return Fleet(tenant, hours)


async def export_period(
    factory: Factory, world: Fleet, out: Path, start: datetime, end: datetime, *extra: str
) -> list[dict]:
    run = await cashcc.audit_export(
        factory.settings,
        *("--org", str(world.tenant.org.id), "--from", start.isoformat(), "--to", end.isoformat()),
        *("--out", str(out), *extra),
    )
    assert run.code == 0, run
    return cashcc.bundle_lines(out)


async def test_a_fleet_bundle_spanning_checkpoints_verifies_machine_by_machine(
    factory: Factory, tmp_path: Path
) -> None:
    # given a period that opens after the first checkpoint and closes after the third
    world = await fleet(factory)
    half = timedelta(minutes=30)
    out = tmp_path / "fleet.jsonl"
    # when
    lines = await export_period(factory, world, out, world.hours[0] + half, world.hours[2] + half)
    run = await cashcc.verify_bundle(out, "--public-key", cashcc.public_key(factory.settings))
    # then every machine's records after the opening checkpoint are in it, and each verifies
    machines = world.tenant.machine_ids
    expected = {}
    for i, machine in enumerate(machines):
        opening, *_, closing = world.sizes(i)
        expected[machine] = (
            f"machine {machine}: OK ({closing - opening} records, checkpoints {opening}..{closing})"
        )
    assert run.code == 0, run
    assert sorted(run.out) == sorted(expected.values())
    logs = {log["machineId"]: log for log in cashcc.of_type(lines, "log")}
    assert {m: [c["size"] for c in logs[m]["checkpoints"]] for m in logs} == {
        m: world.sizes(i) for i, m in enumerate(machines)
    }
    positions = {m: [] for m in machines}
    for record in cashcc.of_type(lines, "record"):
        positions[record["machineId"]].append(record["position"])
    assert positions == {
        m: list(range(world.sizes(i)[0] + 1, world.sizes(i)[-1] + 1))
        for i, m in enumerate(machines)
    }


async def test_shop_narrows_the_fleet_bundle_and_its_csv_to_that_shops_machines(
    factory: Factory, tmp_path: Path
) -> None:
    # given
    world = await fleet(factory)
    shop = world.tenant.shops[1]
    ours = [str(m.id) for m in world.tenant.machines if m.shop_id == shop.id]
    out = tmp_path / "shop.jsonl"
    start, end = world.hours[0] - timedelta(hours=1), world.hours[-1] + timedelta(minutes=1)
    # when
    lines = await export_period(factory, world, out, start, end, "--shop", str(shop.id))
    run = await cashcc.verify_bundle(out, "--public-key", cashcc.public_key(factory.settings))
    # then only that shop's machines are in the bundle and the CSV, and they verify
    assert lines[0]["shopId"] == str(shop.id)
    assert sorted(log["machineId"] for log in cashcc.of_type(lines, "log")) == sorted(ours)
    assert {
        (r["machineId"], r["transaction"]["shop_id"]) for r in cashcc.of_type(lines, "record")
    } == {(m, str(shop.id)) for m in ours}
    _, rows = cashcc.csv_rows(out.with_suffix(".csv"))
    assert len(rows) == len(cashcc.of_type(lines, "record"))
    assert {(r["machine_id"], r["shop_id"]) for r in rows} == {(m, str(shop.id)) for m in ours}
    assert run.code == 0, run
    assert sorted(line.split(":")[0] for line in run.out) == sorted(f"machine {m}" for m in ours)
    assert all(": OK (" in line for line in run.out), run


async def test_consecutive_periods_tile_the_log_and_share_their_boundary_checkpoint(
    factory: Factory, tmp_path: Path
) -> None:
    # given two periods meeting exactly at the second checkpoint's closing time
    world = await fleet(factory)
    start, cut, end = world.hours[0] - timedelta(hours=1), world.hours[1], world.hours[2]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    # when
    before = await export_period(factory, world, first, start, cut)
    after = await export_period(factory, world, second, cut, end)
    key = cashcc.public_key(factory.settings)
    runs = await asyncio.gather(
        cashcc.verify_bundle(first, "--public-key", key),
        cashcc.verify_bundle(second, "--public-key", key),
    )
    # then every logged record is in exactly one of them, and both verify
    ids = [r["id"] for r in cashcc.of_type(before, "record") + cashcc.of_type(after, "record")]
    stored = await transactions().find({"org_id": world.tenant.org.id}).to_list()
    assert sorted(ids) == sorted(str(d["_id"]) for d in stored)
    closing = {log["machineId"]: log["checkpoints"][-1] for log in cashcc.of_type(before, "log")}
    opening = {log["machineId"]: log["checkpoints"][0] for log in cashcc.of_type(after, "log")}
    assert opening == closing
    assert [(run.code, len(run.out)) for run in runs] == [(0, 4), (0, 4)], runs


async def test_a_checkpoint_signed_during_an_export_puts_the_same_records_in_bundle_and_csv(
    factory: Factory,
) -> None:
    # given a period ending in the future, whose logs are resolved for the export
    world = await fleet(factory)
    period = await resolve_period(
        scope=Scope.organization(world.tenant.org.id),
        start=world.hours[0] - timedelta(hours=1),
        end=utcnow() + timedelta(hours=1),
        shop_id=None,
    )
    logs = [log async for log in period_logs(period, settings=factory.settings)]
    # when more records arrive and are checkpointed before the CSV is written
    machine, key = world.tenant.machines[0], world.tenant.machine_keys[0]
    more = [tx(world.sizes(0)[-1] + k, lines=[(1000, 1)]) for k in (1, 2)]
    await factory.ingest(world.tenant, more, machine_id=str(machine.id), api_key=key)
    await produce_checkpoints(settings=factory.settings, now=utcnow(), org_id=world.tenant.org.id)
    bundle = [
        json.loads(line)
        async for line in bundle_lines(period, settings=factory.settings, logs=logs)
    ]
    rows = [line async for line in csv_lines(period, settings=factory.settings, logs=logs)]
    # then the CSV has one row per record of the bundle, no more
    records = cashcc.of_type(bundle, "record")
    assert len(rows) - 1 == len(records) == sum(s[-1] for s in map(world.sizes, range(4)))
