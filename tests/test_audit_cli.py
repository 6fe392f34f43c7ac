"""`cashcc audit-export` and `cashcc verify-bundle` as an operator and an auditor run them: real
processes, the export against the test database, the verification with no database at all
(its MONGODB_URI points where nothing listens). docs/audit.md, "The export bundle" and "How an
auditor verifies a bundle", is the contract: exit codes, output lines, files."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId

from models.organization import utcnow
from resolvers.audit.note import Signer, format_verifier_key
from tests.audit_cli_support import (
    audit_export,
    bundle_lines,
    csv_rows,
    of_type,
    public_key,
    verify_bundle,
    write_lines,
)
from tests.audit_support import chain_of, export, logged_tenant
from tests.factories import Factory, Tenant, tx
from tests.test_audit_tamper import CASES

# The CSV columns as docs/audit.md lists them for accountants.
DOCUMENTED_COLUMNS = [
    "machine_id", "shop_id", "chain_position", "transaction_id", "seq", "type", "occurred_at",
    "received_at", "currency", "amount", "lines", "reference", "operator_id", "flags", "hash",
]  # fmt: skip


def window() -> dict[str, str]:
    now = utcnow()
    return {
        "--from": (now - timedelta(days=1)).isoformat(),
        "--to": (now + timedelta(days=1)).isoformat(),
    }


def argv(options: dict[str, str]) -> list[str]:
    return [part for option in options.items() for part in option]


async def test_the_export_holds_the_orgs_checkpointed_transactions_and_nothing_of_another(
    factory: Factory, tmp_path: Path
) -> None:
    # given an organization with five checkpointed records and one not checkpointed yet, and
    # another organization
    tenant = await logged_tenant(factory, [3, 2])
    await factory.ingest(tenant, [tx(6)])
    other = await logged_tenant(factory, [2])
    out = tmp_path / "march.jsonl"
    # when
    run = await audit_export(
        factory.settings, *argv({"--org": str(tenant.org.id), **window(), "--out": str(out)})
    )
    # then the bundle holds exactly the checkpointed records of the organization
    assert run.code == 0, run
    assert str(out) in run.said
    stored = await chain_of(tenant)
    lines = bundle_lines(out)
    header, end = lines[0], lines[-1]
    assert (header["format"], header["orgId"], header["shopId"]) == (
        "cashcc-audit-bundle/1",
        str(tenant.org.id),
        None,
    )
    assert [log["machineId"] for log in of_type(lines, "log")] == [tenant.machine_id]
    records = of_type(lines, "record")
    assert [r["id"] for r in records] == [str(d["_id"]) for d in stored[:5]]
    assert end == {"type": "end", "logs": 1, "records": 5}
    text = out.read_text()
    foreign = [str(other.org.id), other.machine_id, *(str(d["_id"]) for d in await chain_of(other))]
    assert [value for value in foreign if value in text] == []
    # and the CSV beside it has one row per exported record with the documented columns
    columns, rows = csv_rows(out.with_suffix(".csv"))
    assert columns == DOCUMENTED_COLUMNS
    assert [(r["transaction_id"], r["chain_position"], r["hash"]) for r in rows] == [
        (r["id"], str(r["position"]), r["hash"]) for r in records
    ]
    assert [(r["amount"], r["lines"], r["type"], r["currency"]) for r in rows[:2]] == [
        ("1000", "N:1000x1", "DEPOSIT", "EUR"),
        ("2000", "N:1000x2", "DEPOSIT", "EUR"),
    ]
    assert {(r["machine_id"], r["shop_id"]) for r in rows} == {
        (tenant.machine_id, str(tenant.shops[0].id))
    }


def bad_exports(shop_of_another_org: str) -> dict[str, tuple[dict[str, str], str]]:
    """What an operator might mistype: the options changed, and the option the error names."""
    return {
        "an unknown organization": ({"--org": str(ObjectId())}, "--org"),
        "an organization that is not an id": ({"--org": "acme"}, "--org"),
        "--from after --to": (
            {"--from": "2026-03-02T00:00:00Z", "--to": "2026-03-01T00:00:00Z"},
            "--from",
        ),
        "--from not a date": ({"--from": "yesterday"}, "--from"),
        "--to not a date": ({"--to": "2026-02-30"}, "--to"),
        "--from out of range": ({"--from": "0001-01-01T00:00:00+01:00"}, "--from"),
        "--to out of range": ({"--to": "9999-12-31T23:00:00"}, "--to"),
        "an unknown shop": ({"--shop": str(ObjectId())}, "--shop"),
        "a shop of another organization": ({"--shop": shop_of_another_org}, "--shop"),
        "a shop that is not an id": ({"--shop": "S0"}, "--shop"),
        "--out in a directory that does not exist": ({"--out": "/nonexistent/b.jsonl"}, "--out"),
    }


async def test_bad_export_arguments_exit_2_with_one_line_naming_the_option(
    factory: Factory, tmp_path: Path
) -> None:
    # given an organization with a checkpointed record, another one, and valid command lines
    tenant = await logged_tenant(factory, [1])
    other = await factory.tenant()
    cases = bad_exports(str(other.shops[0].id))
    outs = [tmp_path / f"{i}.jsonl" for i in range(len(cases))]
    # when each is run with one mistake
    runs = await asyncio.gather(
        *(
            audit_export(
                factory.settings,
                *argv({"--org": str(tenant.org.id), **window(), "--out": str(out), **changed}),
            )
            for out, (changed, _) in zip(outs, cases.values(), strict=True)
        )
    )
    # then each exits 2 with one line on stderr naming the option once, and writes nothing
    said = {case: (run.code, run.out, len(run.err)) for case, run in zip(cases, runs, strict=True)}
    assert said == {case: (2, [], 1) for case in cases}
    named = {case: run.err[0].split(": ")[:2] for case, run in zip(cases, runs, strict=True)}
    assert named == {case: ["error", option] for case, (_, option) in cases.items()}
    repeated = [case for case, run in zip(cases, runs, strict=True) if run.err[0].count("--") > 1]
    assert repeated == [], [runs[list(cases).index(case)].err for case in repeated]
    written = [path for out in outs for path in (out, out.with_suffix(".csv"))]
    assert [path for path in written if path.exists()] == []


async def exported(factory: Factory, tmp_path: Path) -> tuple[Tenant, Path]:
    """A machine's log of three checkpointed batches of five (sizes 5, 10, 15), exported."""
    tenant = await logged_tenant(factory, [5, 5, 5])
    lines = await export(factory.settings, tenant)
    return tenant, write_lines(tmp_path / "bundle.jsonl", lines)


async def test_an_intact_bundle_verifies_offline_with_the_operators_key(
    factory: Factory, tmp_path: Path
) -> None:
    tenant, path = await exported(factory, tmp_path)
    run = await verify_bundle(path, "--public-key", public_key(factory.settings))
    assert (run.code, run.out, run.err) == (
        0,
        [f"machine {tenant.machine_id}: OK (15 records, checkpoints 5..15)"],
        [],
    )


async def test_without_a_public_key_the_verifier_warns_that_the_bundle_proves_nothing(
    factory: Factory, tmp_path: Path
) -> None:
    tenant, path = await exported(factory, tmp_path)
    run = await verify_bundle(path)
    assert run.code == 0, run
    warning, *machines = run.out
    assert warning.startswith("WARNING: the log keys were taken from the bundle itself")
    assert "--public-key" in warning
    assert machines == [f"machine {tenant.machine_id}: OK (15 records, checkpoints 5..15)"]


async def test_a_wrong_public_key_fails_from_the_first_record(
    factory: Factory, tmp_path: Path
) -> None:
    # given a key with the log key's name that the operator never used
    tenant, path = await exported(factory, tmp_path)
    name, key_id, _ = public_key(factory.settings).split("+")
    stranger = Signer(name, 1, hashlib.sha256(b"someone else's key").digest())
    # when
    run = await verify_bundle(path, "--public-key", format_verifier_key(stranger.verifier()))
    # then
    assert run.code == 1, run
    assert run.out == [
        f"machine {tenant.machine_id}: BROKEN at record 1: the checkpoint of size 5 is signed "
        f"by an unknown key ({name}+{key_id})"
    ]


async def test_a_malformed_key_exits_2_naming_the_option_and_never_echoes_it(
    factory: Factory, tmp_path: Path
) -> None:
    # given a bundle, and an auditor who pastes a truncated key or the operator's secret
    _, path = await exported(factory, tmp_path)
    secret = factory.settings.audit_key_ring[0]
    cut = public_key(factory.settings)[:-4]
    # when
    runs = await asyncio.gather(
        verify_bundle(path, "--public-key", cut),
        verify_bundle(path, "--public-key", secret),
        verify_bundle(path, "--public-key", public_key(factory.settings), "--witness-key", "w"),
    )
    # then
    assert [(run.code, run.out, len(run.err)) for run in runs] == [(2, [], 1)] * 3
    assert [run.err[0].split(": ")[:2] for run in runs] == [
        ["error", "--public-key"],
        ["error", "--public-key"],
        ["error", "--witness-key"],
    ]
    assert "signer key" in runs[1].err[0]
    assert [run for run in runs if cut in run.said or secret.split("+")[-1] in run.said] == []


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bundle_of_a_tampered_database_names_the_first_broken_record_and_fails(
    factory: Factory, tmp_path: Path, case: str
) -> None:
    # given
    tenant = await logged_tenant(factory, [5, 5, 5])
    tamper, first_broken, reason = CASES[case]
    await tamper(factory, tenant)
    path = write_lines(tmp_path / "bundle.jsonl", await export(factory.settings, tenant))
    # when
    run = await verify_bundle(path, "--public-key", public_key(factory.settings))
    # then
    assert run.code == 1, run
    (line,) = run.out
    prefix = f"machine {tenant.machine_id}: BROKEN at record {first_broken}: "
    assert line.startswith(prefix), line
    assert reason in line, line


def _edited(lines: list[str], edit: str) -> list[str]:
    """The bundle's lines after someone edited the file (lines[1 + p] is record p)."""
    seven, eight = json.loads(lines[8]), lines[9]
    if edit == "amount":
        seven["transaction"]["amount"] += 100
        return [*lines[:8], json.dumps(seven) + "\n", *lines[9:]]
    if edit == "deleted":
        return [*lines[:8], *lines[9:]]
    if edit == "duplicated":
        return [*lines[:9], lines[8], *lines[9:]]
    assert edit == "swapped"
    return [*lines[:8], eight, lines[8], *lines[10:]]


EDITS = {
    "amount": "BROKEN at record 7: record content does not match its hash",
    "deleted": "BROKEN at record 7: record 7 is missing",
    "duplicated": "BROKEN at record 7: a record at this position appears again",
    "swapped": "BROKEN at record 7: record 7 is out of order",
}


async def test_a_bundle_edited_after_the_export_names_the_first_broken_record_and_fails(
    factory: Factory, tmp_path: Path
) -> None:
    # given one exported bundle, and copies of it edited by hand
    tenant = await logged_tenant(factory, [5, 5, 5])
    lines = await export(factory.settings, tenant)
    assert [json.loads(line).get("position") for line in lines[1:10]] == [None, *range(1, 9)]
    paths = {edit: write_lines(tmp_path / f"{edit}.jsonl", _edited(lines, edit)) for edit in EDITS}
    # when
    key = public_key(factory.settings)
    runs = await asyncio.gather(
        *(verify_bundle(paths[edit], "--public-key", key) for edit in EDITS)
    )
    # then
    said = {edit: (run.code, run.out) for edit, run in zip(EDITS, runs, strict=True)}
    assert said == {
        edit: (1, [f"machine {tenant.machine_id}: {why}"]) for edit, why in EDITS.items()
    }


async def test_a_file_that_is_not_a_bundle_gets_one_line_and_no_traceback(
    factory: Factory, tmp_path: Path
) -> None:
    # given
    tenant = await logged_tenant(factory, [2])
    lines = await export(factory.settings, tenant)
    whole = "".join(lines)
    files = {
        "empty": ("", "the file is empty, not a cashcc-audit-bundle/1 bundle"),
        "not JSON": ("machine_id,shop_id\n1,2\n", "line 1: not JSON (Expecting value)"),
        "not UTF-8": ("\udcff", "the file is not UTF-8 text, not a cashcc-audit-bundle/1 bundle"),
        "another document": ('{"format": "x"}\n', "line 1: not a cashcc-audit-bundle/1 bundle"),
        "cut in a line": (whole[:-20], f"the bundle is truncated: line {len(lines)} is incomplete"),
        "cut after a record": ("".join(lines[:-1]), "the bundle is truncated: it has no end line"),
    }
    paths = {name: tmp_path / f"{i}.jsonl" for i, name in enumerate([*files, "missing"])}
    for name, (text, _) in files.items():
        paths[name].write_bytes(text.encode("utf-8", "surrogateescape"))
    # when
    key = public_key(factory.settings)
    runs = await asyncio.gather(
        *(verify_bundle(path, "--public-key", key) for path in paths.values())
    )
    # then
    said = {name: (run.code, run.out, run.err) for name, run in zip(paths, runs, strict=True)}
    expected = {name: (1, [f"bundle: {why}"], []) for name, (_, why) in files.items()}
    missing = f"error: FILE: {paths['missing']}: No such file or directory"
    assert said == {**expected, "missing": (2, [], [missing])}
