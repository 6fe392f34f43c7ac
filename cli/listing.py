"""`cashcc orgs|shops|machines|keys` (tables or `--json`) and `cashcc simulate --cleanup RUN`.

Operators' views straight from the database: ids to pass to other commands
(`rebuild-summaries --org`), never a secret (API keys show their public prefix only)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from models.cleanup import delete_api_keys_named, delete_empty_shops, delete_machines
from models.identity_store import list_api_keys
from models.machine_store import list_machines
from models.org_store import get_organization, list_organizations, list_shops
from models.organization import Organization
from models.scope import Scope
from resolvers.identity.api_keys import key_status

RUN_ID = re.compile(r"[0-9a-f]{14}")


class UsageError(Exception):
    """A bad option value: printed as `error: <option>: <reason>`, exit code 2."""


def object_id(option: str, value: str | None) -> ObjectId | None:
    if value is None:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise UsageError(f"{option}: {value!r} is not an id (24 hexadecimal characters)") from None


async def organizations(args: argparse.Namespace) -> list[Organization]:
    org_id = object_id("--org", getattr(args, "org", None))
    if org_id is None:
        return await list_organizations()
    org = await get_organization(scope=Scope.organization(org_id))
    if org is None:
        raise UsageError(f"--org: no organization with id {org_id}")
    return [org]


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


async def rows_for(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows of the listing `args.command` names."""
    rows: list[dict[str, Any]] = []
    shop_id = object_id("--shop", getattr(args, "shop", None))
    for org in await organizations(args):
        scope = Scope.organization(org.id)
        if args.command == "orgs":
            shops = await list_shops(scope=scope)
            rows.append({"id": str(org.id), "name": org.name, "currency": org.currency,
                         "timezone": org.timezone, "shops": len(shops),
                         "created": _when(org.created_at)})  # fmt: skip
            continue
        shops = {s.id: s for s in await list_shops(scope=scope)}
        narrow = [shop_id] if shop_id else None
        if args.command == "shops":
            machines = await list_machines(scope=scope)
            for shop in shops.values():
                if shop_id and shop.id != shop_id:
                    continue
                count = sum(1 for m in machines if m.shop_id == shop.id)
                rows.append({"id": str(shop.id), "org": org.name, "code": shop.code,
                             "name": shop.name, "timezone": shop.timezone,
                             "currency": shop.currency, "machines": count})  # fmt: skip
        elif args.command == "machines":
            for m in await list_machines(scope=scope, shop_ids=narrow):
                rows.append({"id": str(m.id), "org": org.name, "shop": shops[m.shop_id].code,
                             "serial": m.serial, "model": m.model.value, "currency": m.currency,
                             "name": m.name or "-"})  # fmt: skip
        else:
            now = datetime.now(UTC)
            for k in await list_api_keys(scope=scope, shop_ids=narrow):
                rows.append({"id": str(k.id), "org": org.name, "shop": shops[k.shop_id].code,
                             "name": k.name, "prefix": k.prefix,
                             "status": key_status(k, now=now).value,
                             "machines": len(k.machine_ids) if k.machine_ids else "all",
                             "last used": _when(k.last_used_at)})  # fmt: skip
    return rows


def print_rows(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("(none)")
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


async def run_listing(args: argparse.Namespace) -> int:
    try:
        rows = await rows_for(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_rows(rows, as_json=args.json)
    return 0


async def cleanup_run(run_id: str, state_dir: Path) -> int:
    """Delete what `cashcc simulate` run `run_id` created: its machines (with their
    transactions and summaries), its keys, the SIM-* shops left without machines, and its
    outboxes. Other runs' machines and the shops they use stay."""
    if not RUN_ID.fullmatch(run_id):
        print(f"error: --cleanup: {run_id!r} is not a run id (14 characters such as "
              "11241051278a52, printed by `cashcc simulate`)", file=sys.stderr)  # fmt: skip
        return 2
    found = 0
    for org in await list_organizations():
        scope = Scope.organization(org.id)
        machines = [m for m in await list_machines(scope=scope)
                    if m.serial.startswith(f"SIM-{run_id}-")]  # fmt: skip
        keys = await delete_api_keys_named(scope=scope, name=f"simulator {run_id}")
        if not machines and not keys:
            continue
        counts = await delete_machines(scope=scope, machine_ids=[m.id for m in machines])
        shops = await delete_empty_shops(scope=scope, codes_prefix="SIM-")
        found += len(machines) + keys
        print(f"{org.name}: removed {len(machines)} machines, {keys} keys, {shops} empty "
              f"shops, {counts.get('transactions', 0)} transactions")  # fmt: skip
    shutil.rmtree(state_dir / run_id, ignore_errors=True)
    if not found:
        print(f"error: --cleanup: nothing of run {run_id} found", file=sys.stderr)
        return 1
    return 0
