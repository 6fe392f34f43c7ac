"""`cashcc audit-export`, `verify-bundle`, `audit-checkpoint`, `audit-keygen`, `witness`
(docs/audit.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import Settings
from models.organization import utcnow
from resolvers.audit.bundle_check import check_bundle, format_report
from resolvers.audit.keys import KeyRingError, witness_signer
from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteError,
    format_signer_key,
    format_verifier_key,
    generate_signer,
    parse_verifier_key,
)
from resolvers.errors import ServiceError

EXIT_ALERT = 3


def _fail(option: str, message: str) -> int:
    print(f"error: {option}: {message}", file=sys.stderr)
    return 2


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from cli.listing import UsageError, object_id
    from cli.rebuild import instant
    from models.org_store import get_organization
    from models.scope import Scope
    from resolvers.audit.bundle import bundle_lines, csv_lines, period_logs, resolve_period

    try:
        org_id = object_id("--org", args.org)
    except UsageError as exc:
        return _fail("--org", str(exc).removeprefix("--org: "))
    assert org_id is not None
    when = {}
    for option, value in (("--from", args.start), ("--to", args.end)):
        try:
            when[option] = instant(value)
        except ValueError:
            return _fail(option, f"{value!r} is not an ISO 8601 instant")
        except OverflowError:
            return _fail(option, f"{value!r} is out of range (1970 to 9998)")
    start, end = when["--from"], when["--to"]
    scope = Scope.organization(org_id)
    if await get_organization(scope=scope) is None:
        return _fail("--org", f"no organization with id {org_id} (see `cashcc orgs`)")
    try:
        period = await resolve_period(scope=scope, start=start, end=end, shop_id=args.shop)
    except ServiceError as exc:
        return _fail(f"--{exc.first.field or 'org'}", exc.first.message)
    stem = f"audit-{org_id}-{start:%Y%m%d}-{end:%Y%m%d}"
    out = args.out or Path(f"{stem}.jsonl")
    table = args.csv or out.with_suffix(".csv")
    # Resolved once: a checkpoint signed between the two files must not put more records
    # into the CSV than into the bundle.
    logs = [log async for log in period_logs(period, settings=settings)]
    for option, path, lines in (("--out", out, bundle_lines), ("--csv", table, csv_lines)):
        try:
            with path.open("w", encoding="utf-8", newline="") as handle:
                async for line in lines(period, settings=settings, logs=logs):
                    handle.write(line)
        except OSError as exc:
            return _fail(option, f"cannot write {path}: {exc.strerror or exc}")
    print(f"bundle {out}, transactions as CSV {table}")
    return 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the period's bundle and CSV."""
    from cli.main import with_database

    return asyncio.run(with_database(settings, lambda: _export(args, settings)))


def _verifier_key_problem(key: str) -> str | None:
    """Why `key` is not a verifier key, never echoing it (it may be a pasted secret)."""
    if key.strip().startswith("PRIVATE+KEY+"):
        return "that is a signer key, a secret: pass its verifier key (<name>+<id>+<base64>)"
    try:
        parse_verifier_key(key.strip())
    except NoteError as exc:
        return f"not a verifier key (<name>+<id>+<base64>): {exc}"
    return None


def cmd_verify_bundle(args: argparse.Namespace, settings: Settings) -> int:
    """Verify a bundle offline; exit 1 when a record or the file is broken, 2 for a bad key."""
    for option, keys in (("--public-key", args.public_key), ("--witness-key", args.witness_key)):
        for key in keys or []:
            problem = _verifier_key_problem(key)
            if problem:
                return _fail(option, problem)
    try:
        with args.file.open(encoding="utf-8") as handle:
            report = check_bundle(
                handle, log_keys=args.public_key or None, witness_keys=args.witness_key or None
            )
    except OSError as exc:
        return _fail("FILE", f"{args.file}: {exc.strerror or exc}")
    for line in format_report(report):
        print(line)
    return 0 if report.ok else 1


def cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """Sign a checkpoint now for every log that grew (what the scheduler does hourly)."""
    from cli.listing import UsageError, object_id
    from cli.main import with_database
    from resolvers.audit.checkpoints import produce_checkpoints

    try:
        org_id = object_id("--org", args.org)
    except UsageError as exc:
        return _fail("--org", str(exc))
    run = asyncio.run(
        with_database(
            settings,
            lambda: produce_checkpoints(settings=settings, now=utcnow(), org_id=org_id),
        )
    )
    print(f"{len(run.stored)} checkpoints signed, {run.lost} already signed by another worker")
    for key in run.refused:
        print(f"refused: log {key} does not extend its last checkpoint", file=sys.stderr)
    return 1 if run.refused else 0


def cmd_audit_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """Print a new signer key and its verifier key (the signer key is a secret)."""
    algorithm = ALG_COSIGNATURE_V1 if args.witness else ALG_ED25519
    try:
        signer = generate_signer(args.name, algorithm=algorithm)
    except NoteError as exc:
        return _fail("--name", str(exc))
    print(f"signer (secret, for {'AUDIT_WITNESS_KEY' if args.witness else 'AUDIT_SIGNING_KEYS'}):")
    print(format_signer_key(signer))
    print("verifier (public: give it to auditors):")
    print(format_verifier_key(signer.verifier()))
    return 0


def cmd_witness(args: argparse.Namespace, settings: Settings) -> int:
    """Cosign the organization's checkpoints after checking them; exit 3 on an alert."""
    import httpx

    from cli.witness import Witness, WitnessError

    try:
        signer = witness_signer(settings)
    except KeyRingError as exc:
        return _fail("AUDIT_WITNESS_KEY", str(exc))

    async def rounds() -> int:
        base = args.url.removesuffix("/graphql")
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            witness = Witness(
                http,
                signer=signer,
                state_path=args.state,
                email=args.email,
                password=args.password,
                log_keys=args.log_key,
            )
            while True:
                try:
                    result = await witness.run_round()
                except (WitnessError, httpx.HTTPError) as exc:
                    print(f"witness: {exc}", file=sys.stderr)
                    if args.once:
                        return 1
                else:
                    print(f"witness: cosigned {len(result.cosigned)} checkpoints")
                    for alert in result.alerts:
                        print(alert, file=sys.stderr)
                    if result.alerts:
                        return EXIT_ALERT
                    if args.once:
                        return 0
                await asyncio.sleep(args.interval)

    return asyncio.run(rounds())


def add_audit_commands(sub: Any, command: Callable[..., Any], url: str) -> None:
    """Register the audit commands on the `cashcc` parser (`command` builds one)."""
    export = command(sub, "audit-export", "write a period's audit bundle and CSV", cmd_audit_export)
    export.add_argument("--org", required=True, help="organization id (see `cashcc orgs`)")
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 instant")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 instant")
    export.add_argument("--shop", help="only this shop's machines")
    export.add_argument("--out", type=Path, help="bundle file (default: audit-ORG-FROM-TO.jsonl)")
    export.add_argument("--csv", type=Path, help="CSV file (default: the bundle's name, .csv)")

    verify = command(sub, "verify-bundle", "verify an audit bundle offline", cmd_verify_bundle)
    verify.add_argument("file", type=Path, metavar="FILE", help="the bundle (.jsonl)")
    verify.add_argument(
        "--public-key", action="append", help="a log verifier key you trust (repeat for each)"
    )
    verify.add_argument("--witness-key", action="append", help="a witness verifier key")

    checkpoint = command(
        sub, "audit-checkpoint", "sign checkpoints now for every log that grew",
        cmd_audit_checkpoint,
    )  # fmt: skip
    checkpoint.add_argument("--org", help="only this organization (all when omitted)")

    keygen = command(
        sub, "audit-keygen", "generate an audit signing or witness key", cmd_audit_keygen
    )
    keygen.add_argument("--name", required=True, help="key name, e.g. AUDIT_LOG_ORIGIN")
    keygen.add_argument("--witness", action="store_true", help="a cosigner (witness) key")

    witness = command(
        sub, "witness", "check and cosign checkpoints (run on the customer's side)", cmd_witness
    )
    witness.add_argument("--url", default=url, help="GraphQL endpoint of the service")
    witness.add_argument("--email", required=True, help="an ORG_ADMIN account for the witness")
    witness.add_argument("--password", required=True, help="its password")
    witness.add_argument("--state", type=Path, required=True, help="the witness's state file")
    witness.add_argument("--log-key", action="append", help="a pinned log verifier key")
    witness.add_argument("--interval", type=float, default=300.0, help="seconds between rounds")
    witness.add_argument("--once", action="store_true", help="one round, then exit")
