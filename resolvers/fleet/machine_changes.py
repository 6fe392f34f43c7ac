"""Changing a machine in service: name and limits, moving it to another shop, retiring it."""

from __future__ import annotations

from functools import partial

from pymongo.asynchronous.client_session import AsyncClientSession

from auth.principal import Principal
from config import Settings
from models.db import get_database
from models.machine import Machine, SlotLimits
from models.machine_store import mark_decommissioned, move_machine, update_machine
from models.organization import utcnow
from resolvers.errors import CommonErrorCode, ServiceError, UserError, not_found, raise_if_any
from resolvers.fleet.errors import FleetErrorCode
from resolvers.fleet.machines import find_machine, merged_limits
from resolvers.fleet.shops import find_shop
from resolvers.health.lifecycle import retire_twin
from resolvers.health.recording import publish_recorded
from resolvers.identity.security_log import SecurityAction, record_admin_action, store_update
from resolvers.updates import Unchanged
from resolvers.validation import check_name

MAX_REASON_LENGTH = 500


async def _machine_in_service(principal: Principal, machine_id: str) -> Machine:
    machine = await find_machine(principal=principal, machine_id=machine_id)
    if machine is None:
        raise not_found("machine", field="input.machineId")
    if machine.decommissioned_at is not None:
        raise ServiceError.of(
            FleetErrorCode.MACHINE_DECOMMISSIONED,
            "the machine is decommissioned; it can no longer be changed",
            field="input.machineId",
        )
    return machine


async def change_machine(
    *,
    principal: Principal,
    machine_id: str,
    name: str | Unchanged | None,
    limits: dict[str, SlotLimits] | Unchanged,
) -> Machine:
    """Rename a machine (None: no name) and override limits per slot key (`N500`); the
    other slots keep theirs."""
    machine = await _machine_in_service(principal, machine_id)
    changes: dict[str, object] = {}
    if not isinstance(name, Unchanged):
        raise_if_any(check_name("input.name", name) if name is not None else None)
        changes["name"] = name.strip() if name is not None else None
    if not isinstance(limits, Unchanged):
        merged = merged_limits(machine.limits, limits, machine.currency)
        changes["limits"] = {slot: lim.model_dump() for slot, lim in merged.items()}
    return await store_update(
        principal,
        SecurityAction.MACHINE_UPDATED,
        current=machine,
        changes=changes,
        write=partial(update_machine, scope=principal.scope, machine_id=machine.id),
        what="machine",
        field="input.machineId",
        target_kind="machine",
    )


async def relocate_machine(*, principal: Principal, machine_id: str, shop_id: str) -> Machine:
    """Move a machine to another shop of the organization. Its history, chain and inventory
    stay with it; transactions already stored keep the shop where they happened."""
    machine = await _machine_in_service(principal, machine_id)
    shop = await find_shop(principal=principal, shop_id=shop_id)
    if shop is None:
        raise not_found("shop", field="input.shopId")
    raise_if_any(
        UserError("input.shopId", CommonErrorCode.INVALID, "the machine is already in this shop")
        if shop.id == machine.shop_id
        else None,
        UserError(
            "input.shopId",
            CommonErrorCode.INVALID,
            f"the shop's currency {shop.currency} is not the machine's {machine.currency}",
        )
        if shop.currency != machine.currency
        else None,
    )
    from_shop = machine.shop_id
    await move_machine(scope=principal.scope, machine=machine, shop_id=shop.id)
    await record_admin_action(
        principal,
        SecurityAction.MACHINE_MOVED,
        target_kind="machine",
        target_id=machine.id,
        details={"from_shop": str(from_shop), "to_shop": str(shop.id)},
    )
    return machine


async def decommission(
    *, principal: Principal, machine_id: str, reason: str | None, settings: Settings
) -> Machine:
    """Retire a machine: its history and chain stay readable, it takes no more telemetry,
    and fleet health no longer counts it (not as offline either)."""
    machine = await _machine_in_service(principal, machine_id)
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise ServiceError.of(
            CommonErrorCode.INVALID,
            f"must be at most {MAX_REASON_LENGTH} characters",
            field="input.reason",
        )
    at = utcnow()

    async def retire(session: AsyncClientSession) -> list[dict]:
        if not await mark_decommissioned(
            scope=principal.scope, machine_id=machine.id, at=at, reason=reason, session=session
        ):
            raise ServiceError.of(
                FleetErrorCode.MACHINE_DECOMMISSIONED,
                "the machine is already decommissioned",
                field="input.machineId",
            )
        return await retire_twin(machine=machine, at=at, settings=settings, session=session)

    docs = await get_database().in_transaction(retire)
    machine.decommissioned_at, machine.decommission_reason = at, reason
    await record_admin_action(
        principal,
        SecurityAction.MACHINE_DECOMMISSIONED,
        target_kind="machine",
        target_id=machine.id,
        details={"reason": reason or ""},
    )
    await publish_recorded(docs)
    return machine
