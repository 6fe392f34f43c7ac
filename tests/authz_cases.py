"""The cases of the authorization matrix (`tests/test_authz_matrix.py`): for each operation,
its document, how to build its variables for a target of the world, and how to tell from the
answer whether the target was reached."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from models.audit import AuditCheckpoint
from models.ledger import Transaction
from resolvers.audit.note import parse_note, signature_line
from tests.authz_world import WITNESS, World
from tests.factories import PASSWORD, heartbeat, tx

Vars = Callable[[World, str | None], Awaitable[dict[str, Any]]]
Found = Callable[[dict[str, Any], World, str | None], bool]


@dataclass(frozen=True)
class Case:
    query: str
    variables: Vars
    found: Found
    targets: tuple[str | None, ...] = (None,)


async def no_vars(world: World, target: str | None) -> dict[str, Any]:
    return {}


def ids_var(name: str, *, as_list: bool = False) -> Vars:
    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        value = world.ids[target]
        return {name: [value] if as_list else value}

    return make


def key_var(world_key: str = "id") -> Vars:
    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        return {world_key: await world.fresh_key(target)}

    return make


async def webhook_var(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"id": await world.fresh_webhook(target)}


def user_var(world: World, target: str | None) -> Awaitable[dict[str, Any]]:
    async def make() -> dict[str, Any]:
        assert target is not None
        return {"id": await world.fresh_user(target)}

    return make()


def window_vars(name: str) -> Vars:
    """The target's id plus a time window around every record the world ingested."""

    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        now = datetime.now(UTC)
        return {
            name: [world.ids[target]],
            "from": (now - timedelta(days=2)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        }

    return make


def payload(field: str, inner: str) -> Found:
    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        result = data[field]
        codes = {e["code"] for e in result.get("userErrors", [])}
        assert codes <= {"NOT_FOUND", "MACHINE_NOT_COVERED"}, result
        return result[inner] is not None and not codes

    return found


async def ingest_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {
        "input": {
            "machineId": world.ids[target],
            "idempotencyKey": uuid.uuid4().hex,
            "transactions": [tx(next(world.seqs))],
        }
    }


def ingest_found(data: dict[str, Any], world: World, target: str | None) -> bool:
    result = data["ingestTransactions"]
    codes = {e["code"] for e in result["userErrors"]}
    assert codes <= {"NOT_FOUND", "MACHINE_NOT_COVERED"}, result
    return result["accepted"] == 1


async def fresh_machine_vars(world: World, target: str | None) -> dict[str, Any]:
    """A new machine in the target shop, and (for moves) another shop of org A."""
    assert target is not None
    other = world.ids["S1"] if target == "S0" else world.ids["S0"]
    return {"m": await world.fresh_machine(target), "to": other}


async def telemetry_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    seq = next(world.seqs)
    return {
        "input": {
            "machineId": world.ids[target],
            "messages": [heartbeat(seq, event_id=uuid.uuid4().hex)],
        }
    }


def alert_vars(name: str, *, as_list: bool = False) -> Vars:
    """The id (or, for filters, the machine id) of a FIRING alert on the target machine."""

    async def make(world: World, target: str | None) -> dict[str, Any]:
        assert target is not None
        if as_list:
            await world.alert(target)
            return {name: [world.ids[target]]}
        return {name: await world.alert(target)}

    return make


def alert_payload(field: str) -> Found:
    """Found: the transition was made, or refused because an earlier call of the matrix
    already moved the alert on (INVALID_TRANSITION: it was reached)."""

    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        result = data[field]
        codes = {e["code"] for e in result["userErrors"]}
        assert codes <= {"NOT_FOUND", "INVALID_TRANSITION"}, result
        return "INVALID_TRANSITION" in codes or (result["alert"] is not None and not codes)

    return found


async def silence_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"s": world.ids[target], "end": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}


async def fresh_silence_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    return {"id": await world.fresh_silence(target)}


async def collection_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    now = datetime.now(UTC)
    return {
        "m": world.ids[target],
        "from": now.isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def login_vars(world: World, target: str | None) -> dict[str, Any]:
    return {"email": world.a.admin.email, "password": PASSWORD}


async def refresh_vars(world: World, target: str | None) -> dict[str, Any]:
    return {"t": "ccr_" + "x" * 43}


def every(items: list[Any], predicate: Callable[[Any], bool]) -> bool:
    """`predicate` holds for each of `items`, and there is at least one: an empty answer
    proves nothing about what the caller may see."""
    return bool(items) and all(predicate(item) for item in items)


def is_org_a_listing(key: str, id_of: Callable[[dict[str, Any]], str]) -> Found:
    """A whole-organization listing: must hold org A's items and none of org B's."""

    def found(data: dict[str, Any], world: World, target: str | None) -> bool:
        return every(data[key], lambda item: id_of(item) != str(world.b.admin.id))

    return found


async def transaction_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    doc = await Transaction.get_pymongo_collection().find_one(
        {"machine_id": ObjectId(world.ids[target])}
    )
    return {"t": str(doc["_id"])}


async def cosign_vars(world: World, target: str | None) -> dict[str, Any]:
    assert target is not None
    doc = await AuditCheckpoint.get_pymongo_collection().find_one(
        {"machine_id": ObjectId(world.ids[target])}
    )
    line = signature_line(parse_note(doc["note"]).text, WITNESS, timestamp=1_800_000_000)
    return {"i": {"machineId": world.ids[target], "size": doc["size"], "cosignature": line}}


async def const(value: dict[str, Any]) -> dict[str, Any]:
    return value
