"""The audit export: one JSON Lines file an auditor verifies offline (format in docs/audit.md),
and a CSV of the same transactions for accountants.

A period [from, to) of a machine's log runs from its *opening* checkpoint (the largest one
closing at or before `from`, the empty tree when there is none) to its *closing* checkpoint
(the largest one closing at or before `to`). The bundle holds every record logged between
them, every checkpoint in between, the consistency proofs between consecutive checkpoints,
an inclusion proof of every record in the closing checkpoint, and the compact range (subtree
hashes) of the log before the first record, so the verifier rebuilds every root from the
records themselves. Consecutive periods share their boundary checkpoint: their bundles tile
the log without a gap or an overlap.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from config import Settings
from models.audit import LogKey
from models.audit_store import checkpoint_as_of, checkpoints_between, fetch_tree_nodes
from models.ledger_store import chain_range, first_in_chain
from models.machine import Machine
from models.machine_store import list_machines
from models.org_store import get_organization, get_shop
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.bundle_check import BUNDLE_FORMAT
from resolvers.audit.canonical import canonical_json, iso_millis
from resolvers.audit.chain import CHAINED_FIELDS, at_retention_edge
from resolvers.audit.keys import key_ring
from resolvers.audit.logs import log_origin
from resolvers.audit.merkle import (
    compact_addresses,
    consistency_proof,
    consistency_proof_addresses,
    inclusion_proof,
    inclusion_proof_addresses,
)
from resolvers.errors import CommonErrorCode, ServiceError, not_found
from resolvers.ids import parse_object_id
from resolvers.timestamps import to_utc

RECORD_CHUNK = 512
CSV_COLUMNS = (
    "machine_id",
    "shop_id",
    "chain_position",
    "transaction_id",
    "seq",
    "type",
    "occurred_at",
    "received_at",
    "currency",
    "amount",
    "lines",
    "reference",
    "operator_id",
    "flags",
    "hash",
)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class Period:
    scope: Scope
    start: datetime
    end: datetime
    shop_id: ObjectId | None


@dataclass(frozen=True)
class PeriodLog:
    """One machine's stretch of log in the period."""

    machine: Machine
    origin: str
    start: int
    opening_size: int
    checkpoints: list[dict[str, Any]]

    @property
    def closing_size(self) -> int:
        return self.checkpoints[-1]["size"]


def _instant(field: str, value: datetime) -> datetime:
    utc = to_utc(value)
    if utc is None:
        raise ServiceError.of(
            CommonErrorCode.BAD_TIMESTAMP, f"{field} must be between 1970 and 9998", field=field
        )
    return utc


async def resolve_period(
    *, scope: Scope, start: datetime, end: datetime, shop_id: str | None
) -> Period:
    """A checked export period in `scope` (BAD_TIMESTAMP, INVALID, NOT_FOUND name the field)."""
    start, end = _instant("from", start), _instant("to", end)
    if start >= end:
        raise ServiceError.of(CommonErrorCode.INVALID, "from must be before to", field="from")
    shop = None
    if shop_id is not None:
        oid = parse_object_id(shop_id)
        found = await get_shop(scope=scope, shop_id=oid) if oid is not None else None
        if found is None:
            raise not_found("shop", field="shop")
        shop = found.id
    return Period(scope=scope, start=start, end=end, shop_id=shop)


async def period_logs(period: Period, *, settings: Settings) -> AsyncIterator[PeriodLog]:
    """Every machine in scope whose log grew in the period."""
    scope, now = period.scope, utcnow()

    def expired(received_at: datetime) -> bool:
        return at_retention_edge(received_at, retention_days=settings.retention_days, now=now)

    machines = await list_machines(
        scope=scope, shop_ids=[period.shop_id] if period.shop_id else None
    )
    for machine in machines:
        opening = await checkpoint_as_of(scope=scope, machine_id=machine.id, at=period.start)
        closing = await checkpoint_as_of(scope=scope, machine_id=machine.id, at=period.end)
        size = opening["size"] if opening else 0
        if closing is None or closing["size"] <= size:
            continue
        later = await checkpoints_between(
            scope=scope, machine_id=machine.id, min_size=size + 1, max_size=closing["size"]
        )
        start = size
        first = await first_in_chain(scope=scope, machine_id=machine.id, from_position=size + 1)
        if first is None or first["chain_position"] > closing["size"]:
            # Nothing of the period is stored: gone with the TTL if it all arrived before the
            # closing checkpoint was made, which is itself past the retention edge.
            if expired(closing["created_at"]):
                start = closing["size"]
        elif first["chain_position"] > size + 1 and expired(first["received_at"]):
            start = first["chain_position"] - 1
        yield PeriodLog(
            machine=machine,
            origin=log_origin(settings.audit_log_origin, LogKey(machine.org_id, machine.id)),
            start=start,
            opening_size=size,
            checkpoints=([opening] if opening else []) + later,
        )


async def period_records(period: Period, log: PeriodLog) -> AsyncIterator[list[dict[str, Any]]]:
    """The log's records from `log.start + 1` to the closing size, in chunks."""
    chunk: list[dict[str, Any]] = []
    async for doc in chain_range(
        scope=period.scope,
        machine_id=log.machine.id,
        first=log.start + 1,
        last=log.closing_size,
    ):
        chunk.append(doc)
        if len(chunk) == RECORD_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def canonical_transaction(doc: dict[str, Any]) -> dict[str, Any]:
    """The chained fields of a stored transaction in their canonical JSON values: the object
    whose canonical JSON is hashed into `hash`."""
    return json.loads(canonical_json({f: doc.get(f) for f in CHAINED_FIELDS}))


async def _logs_of(
    period: Period, settings: Settings, logs: Sequence[PeriodLog] | None
) -> AsyncIterator[PeriodLog]:
    if logs is None:
        async for log in period_logs(period, settings=settings):
            yield log
    else:
        for log in logs:
            yield log


async def bundle_lines(
    period: Period, *, settings: Settings, logs: Sequence[PeriodLog] | None = None
) -> AsyncIterator[str]:
    """The bundle, line by line (docs/audit.md, "The export bundle"); of `logs` when given
    (the period's logs resolved once, so a CSV written beside it holds the same records)."""
    scope = period.scope
    org = await get_organization(scope=Scope.organization(scope.org_id))
    yield _line(
        {
            "format": BUNDLE_FORMAT,
            "orgId": str(scope.org_id),
            "shopId": str(period.shop_id) if period.shop_id else None,
            "from": iso_millis(period.start),
            "to": iso_millis(period.end),
            "createdAt": iso_millis(utcnow()),
            "hashedFields": list(CHAINED_FIELDS),
            "logKeys": key_ring(settings).verifier_keys,
            "witnessKeys": list(org.audit_witness_keys) if org else [],
        }
    )
    count = records = 0
    async for log in _logs_of(period, settings, logs):
        count += 1
        async for line in _log_lines(period, log):
            records += line.startswith('{"type":"record"')
            yield line
    yield _line({"type": "end", "logs": count, "records": records})


async def _log_lines(period: Period, log: PeriodLog) -> AsyncIterator[str]:
    machine, sizes = log.machine, [c["size"] for c in log.checkpoints]
    pairs = list(itertools.pairwise(sizes))
    addresses = list(compact_addresses(log.start))
    for a, b in pairs:
        addresses += consistency_proof_addresses(a, b)
    nodes = await fetch_tree_nodes(scope=period.scope, machine_id=machine.id, addresses=addresses)
    yield _line(
        {
            "type": "log",
            "machineId": str(machine.id),
            "shopId": str(machine.shop_id),
            "origin": log.origin,
            "start": {
                "size": log.start,
                "compact": [_b64(nodes[a]) for a in compact_addresses(log.start)],
            },
            "expired": (
                {"from": log.opening_size + 1, "to": log.start}
                if log.start > log.opening_size
                else None
            ),
            "checkpoints": [
                {
                    "size": c["size"],
                    "asOf": iso_millis(c["as_of"]),
                    "createdAt": iso_millis(c["created_at"]),
                    "note": c["note"],
                }
                for c in log.checkpoints
            ],
            "consistency": [
                {
                    "fromSize": a,
                    "toSize": b,
                    "proof": [_b64(h) for h in consistency_proof(a, b, nodes)],
                }
                for a, b in pairs
            ],
        }
    )
    size = log.closing_size
    async for chunk in period_records(period, log):
        wanted = set()
        for doc in chunk:
            wanted.update(inclusion_proof_addresses(doc["chain_position"] - 1, size))
        nodes = await fetch_tree_nodes(scope=period.scope, machine_id=machine.id, addresses=wanted)
        for doc in chunk:
            position = doc["chain_position"]
            yield _line(
                {
                    "type": "record",
                    "machineId": str(machine.id),
                    "position": position,
                    "id": str(doc["_id"]),
                    "transaction": canonical_transaction(doc),
                    "hash": doc["hash"],
                    "proof": [_b64(h) for h in inclusion_proof(position - 1, size, nodes)],
                }
            )


async def csv_lines(
    period: Period, *, settings: Settings, logs: Sequence[PeriodLog] | None = None
) -> AsyncIterator[str]:
    """The same transactions as the bundle of the same `logs`, one CSV row each (amounts in
    minor units)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def row(values: list[Any]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(values)
        return out.getvalue()

    yield row(list(CSV_COLUMNS))
    async for log in _logs_of(period, settings, logs):
        async for chunk in period_records(period, log):
            for doc in chunk:
                lines = ";".join(
                    f"{ln['kind']}:{ln['denomination']}x{ln['count']}" for ln in doc["lines"]
                )
                yield row(
                    [
                        doc["machine_id"], doc["shop_id"], doc["chain_position"], doc["_id"],
                        doc["seq"], doc["type"], iso_millis(doc["occurred_at"]),
                        iso_millis(doc["received_at"]), doc["currency"], doc["amount"], lines,
                        doc.get("reference") or "", doc.get("operator_id") or "",
                        ",".join(doc.get("flags") or []), doc["hash"],
                    ]
                )  # fmt: skip


async def export_for(
    *, principal: Principal, start: datetime, end: datetime, shop_id: str | None
) -> Period:
    """The period a signed-in ORG_ADMIN or AUDITOR asked to download, in their scope."""
    return await resolve_period(scope=principal.scope, start=start, end=end, shop_id=shop_id)
