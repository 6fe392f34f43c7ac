"""Scope-taking data functions over machines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.db import get_database
from models.health import MachineTwin
from models.ledger import MachineInventory
from models.machine import Machine
from models.scope import Scope
from models.writes import set_returning


class DuplicateSerial(Exception):
    """A machine with this serial already exists in the organization."""


async def get_machine(*, scope: Scope, machine_id: ObjectId) -> Machine | None:
    machine = await Machine.find_one({"_id": machine_id, "org_id": scope.org_id})
    if machine is None or not scope.allows_machine(machine.id, machine.shop_id):
        return None
    return machine


async def list_machines(
    *,
    scope: Scope,
    shop_ids: Sequence[ObjectId] | None = None,
    machine_ids: Sequence[ObjectId] | None = None,
) -> list[Machine]:
    """Machines in scope, optionally narrowed to shops and machines (never widened)."""
    narrowed = scope.narrowed(shop_ids=shop_ids, machine_ids=machine_ids)
    query: dict[str, Any] = narrowed.filter(machine_field="_id")
    return await Machine.find(query).sort("shop_id", "serial").to_list()


async def create_machine(*, scope: Scope, machine: Machine) -> Machine:
    """Insert the machine and its empty inventory state in one transaction (a machine without
    state could never ingest); raises DuplicateSerial."""
    machine.org_id = scope.org_id
    machine.id = PydanticObjectId()
    state = MachineInventory.initial(
        machine_id=machine.id,
        org_id=machine.org_id,
        shop_id=machine.shop_id,
        currency=machine.currency,
        at=machine.created_at,
    )

    async def insert_both(session: AsyncClientSession) -> None:
        await Machine.get_pymongo_collection().insert_one(
            machine.model_dump(by_alias=True, mode="python"), session=session
        )
        await MachineInventory.get_pymongo_collection().insert_one(dict(state), session=session)

    try:
        await get_database().in_transaction(insert_both)
    except DuplicateKeyError as exc:
        raise DuplicateSerial(machine.serial) from exc
    return machine


async def update_machine(
    *, scope: Scope, machine_id: ObjectId, changes: dict[str, Any]
) -> Machine | None:
    """Set `changes` (stored field -> stored value) on a machine in scope; the machine
    afterwards, or None when it is not in scope."""
    machine = await get_machine(scope=scope, machine_id=machine_id)
    if machine is None:
        return None
    return await set_returning(Machine, {"_id": machine_id, "org_id": scope.org_id}, changes)


async def move_machine(*, scope: Scope, machine: Machine, shop_id: ObjectId) -> None:
    """Move the machine, its ledger state and its twin to another shop of the organization,
    in one transaction (the transactions already stored keep the shop they happened in)."""
    query = {"_id": machine.id, "org_id": scope.org_id}

    async def move_all(session: AsyncClientSession) -> None:
        change = {"$set": {"shop_id": shop_id}}
        await Machine.get_pymongo_collection().update_one(query, change, session=session)
        await MachineInventory.get_pymongo_collection().update_one(query, change, session=session)
        twins = MachineTwin.get_pymongo_collection()
        await twins.update_one(query, change, session=session)
        unsettled = {**query, "late_or_offline_shop_id": {"$exists": True}}
        await twins.update_one(
            unsettled, {"$set": {"late_or_offline_shop_id": shop_id}}, session=session
        )

    await get_database().in_transaction(move_all)
    machine.shop_id = PydanticObjectId(shop_id)


async def mark_decommissioned(
    *,
    scope: Scope,
    machine_id: ObjectId,
    at: datetime,
    reason: str | None,
    session: AsyncClientSession,
) -> bool:
    """Decommission a machine in service; False when it already was (or is not in scope)."""
    result = await Machine.get_pymongo_collection().update_one(
        {"_id": machine_id, "org_id": scope.org_id, "decommissioned_at": None},
        {"$set": {"decommissioned_at": at, "decommission_reason": reason}},
        session=session,
    )
    return result.modified_count == 1
