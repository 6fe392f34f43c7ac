"""`cashcc simulate` against a real API server (uvicorn in a child process on a free port):
a small fleet through the flaky proxy with agent kills converges, and the end-of-run
verification through the public API both confirms an exact match and catches a mismatch."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bson import ObjectId

from agent import AgentClient
from agent.outbox import Outbox
from cli.listing import cleanup_run, run_listing
from cli.main import build_parser
from config import Settings
from models.identity import User
from models.ledger import Transaction
from simulator.api import CloudApi
from simulator.proxy import FaultRates
from simulator.run import SimulationConfig, SimulationResult, format_summary, run_simulation
from simulator.verify import verify
from tests.factories import PASSWORD, Factory


@pytest.fixture(scope="module")
async def flaky_run(
    api_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    client: httpx.AsyncClient,
    settings: Settings,
) -> tuple[SimulationResult, str, str]:
    factory = Factory(client=client, settings=settings)
    tenant = await factory.tenant(shops=0)
    config = SimulationConfig(
        url=api_url,
        email=tenant.admin.email,
        password=PASSWORD,
        shops=2,
        machines=1,
        transactions=40,
        batch_size=5,
        rate=80.0,
        seed=7,
        faults=FaultRates(drop=0.15, reset=0.15, stall=0.05, duplicate=0.15, stall_seconds=1.5),
        kill_every=0.05,
        client_timeout=1.0,
        converge_timeout=120.0,
        state_dir=tmp_path_factory.mktemp("sim"),
    )
    out = io.StringIO()
    result = await run_simulation(config, out=out)
    return result, tenant.admin.email, out.getvalue()


async def test_flaky_fleet_with_agent_kills_converges_to_exactly_the_journal(
    flaky_run: tuple[SimulationResult, str, str],
) -> None:
    result, _, progress = flaky_run
    summary = format_summary(result)
    assert result.ok, summary
    assert result.journaled == 80
    assert result.verification.stored == 80
    assert sum(n for k, n in result.faults.items() if k != "passed") > 0, result.faults
    assert result.kills > 0
    assert "journaled 80/80" in progress
    assert "verification: OK" in summary


async def test_verification_catches_a_missing_and_an_extra_transaction(
    flaky_run: tuple[SimulationResult, str, str], api_url: str, tmp_path: Path
) -> None:
    result, email, _ = flaky_run
    quiet_id, rogue_id = list(result.outboxes)
    api = CloudApi(api_url, email, PASSWORD)
    try:
        # The shop journals a record that never reaches the cloud...
        outbox = Outbox(result.outboxes[quiet_id], quiet_id)
        (unsent,) = outbox.journal_many(
            [
                {
                    "type": "DEPOSIT",
                    "occurred_at": datetime.now(UTC),
                    "currency": "EUR",
                    "lines": [{"denomination": 500, "count": 3, "kind": "NOTE"}],
                }
            ]
        )
        journals = {quiet_id: outbox.records()}
        outbox.close()
        # ...and another system sends the other machine a record its journal never held.
        rogue_outbox = Outbox(result.outboxes[rogue_id], rogue_id)
        journals[rogue_id] = rogue_outbox.records()
        rogue_outbox.close()
        shop = next(s for s in await api.shops() if s["code"] == "SIM-02")
        key = await api.create_api_key(shop_id=shop["id"], machine_ids=[rogue_id], name="rogue")
        rogue = AgentClient(api_url, key, rogue_id, tmp_path / "rogue.sqlite", first_seq=41)
        rogue.journal(
            type="DEPOSIT",
            occurred_at=datetime.now(UTC),
            currency=journals[rogue_id][0][1]["currency"],
            lines=journals[rogue_id][0][1]["lines"][:1],
        )
        await rogue.flush()
        await rogue.aclose()

        verification = await verify(api, journals)
    finally:
        await api.aclose()

    checks = {c.machine_id: c for c in verification.machines}
    assert not verification.ok
    assert checks[quiet_id].missing == [unsent]
    assert checks[quiet_id].unacknowledged == 1
    want, got = checks[quiet_id].inventory_diff["NOTE 500"]
    assert want - got == 3
    assert checks[rogue_id].extra == [41]
    assert checks[rogue_id].stored == checks[rogue_id].journaled + 1


async def cashcc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run a database command of `cashcc` in this process (on the test database)."""
    args = build_parser().parse_args(list(argv))
    if args.command == "simulate":
        code = await cleanup_run(args.cleanup, args.state_dir)
    else:
        code = await run_listing(args)
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_listings_show_the_run_and_cleanup_removes_only_it(
    flaky_run: tuple[SimulationResult, str, str],
    factory: Factory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result, email, _ = flaky_run
    admin = await User.find_one(User.email == email)
    org = str(admin.org_id)
    bystander = await factory.tenant()  # another organization's data must survive

    _, orgs, _ = await cashcc(capsys, "orgs", "--json")
    assert org in {o["id"] for o in json.loads(orgs)}
    _, machines, _ = await cashcc(capsys, "machines", "--org", org, "--json")
    machines = json.loads(machines)
    assert sorted(m["serial"] for m in machines) == [
        f"SIM-{result.run_id}-01-1",
        f"SIM-{result.run_id}-02-1",
    ]
    _, keys, _ = await cashcc(capsys, "keys", "--org", org)
    assert f"simulator {result.run_id}" in keys
    assert "cck_test_" in keys  # the public prefix...
    assert not re.search(r"cck_test_\w{16}_\w{40}", keys)  # ...never a secret
    _, table, _ = await cashcc(capsys, "shops", "--org", org)
    assert table.splitlines()[0].split()[:3] == ["ID", "ORG", "CODE"]

    assert await cashcc(capsys, "machines", "--org", "not-an-id") == (
        2,
        "",
        "error: --org: 'not-an-id' is not an id (24 hexadecimal characters)\n",
    )

    outboxes = tmp_path / "sim"
    (outboxes / result.run_id).mkdir(parents=True)
    code, done, _ = await cashcc(
        capsys, "simulate", "--cleanup", result.run_id, "--state-dir", str(outboxes)
    )
    assert code == 0
    # A key per shop; 80 journaled transactions and the rogue one of the test above.
    assert "removed 2 machines, 2 keys, 2 empty shops, 81 transactions" in done
    assert not (outboxes / result.run_id).exists()
    machine_ids = [ObjectId(m["id"]) for m in machines]
    assert await Transaction.find({"machine_id": {"$in": machine_ids}}).count() == 0
    assert (await cashcc(capsys, "machines", "--org", org, "--json"))[1].strip() == "[]"
    _, kept, _ = await cashcc(capsys, "machines", "--org", str(bystander.org.id), "--json")
    assert len(json.loads(kept)) == 1
    code, _, error = await cashcc(
        capsys, "simulate", "--cleanup", result.run_id, "--state-dir", str(outboxes)
    )
    assert (code, error.startswith("error: --cleanup: nothing of run")) == (1, True)
