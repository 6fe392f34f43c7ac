"""Scope-taking data functions over machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.db import get_database
from models.ledger import MachineInventory
from models.machine import Machine
from models.scope import Scope


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
