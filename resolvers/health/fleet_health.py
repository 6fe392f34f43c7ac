"""`fleetHealth`: connectivity and status counts over the caller's machines, and the machines
that need attention, most urgent first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bson import ObjectId

from auth.principal import Principal
from config import Settings
from models.health import Connectivity
from models.machine_store import list_machines
from models.organization import utcnow
from resolvers.errors import CommonErrorCode, ServiceError
from resolvers.health.codes import MachineStatus
from resolvers.health.machine_health import (
    AttentionCode,
    MachineHealthView,
    health_for_machines,
)

MAX_ATTENTION = 500
# Most urgent first: the order of AttentionCode is how a dashboard should sort machines.
URGENCY = {code: rank for rank, code in enumerate(AttentionCode)}


@dataclass
class FleetHealth:
    """Counts cover machines in service; decommissioned ones are counted apart only.
    `status_counts` keys are MachineStatus values, `None` for machines that never reported
    a status."""

    machines: int = 0
    decommissioned: int = 0
    connectivity_counts: dict[Connectivity, int] = field(default_factory=dict)
    status_counts: dict[MachineStatus | None, int] = field(default_factory=dict)
    in_error: int = 0
    attention: list[MachineHealthView] = field(default_factory=list)
    attention_total: int = 0


async def fleet_health(
    *,
    principal: Principal,
    shop_ids: list[ObjectId] | None,
    settings: Settings,
    attention_limit: int = 100,
) -> FleetHealth:
    """The caller's machines (narrowed to `shop_ids`, never widened)."""
    if not 0 <= attention_limit <= MAX_ATTENTION:
        raise ServiceError.of(
            CommonErrorCode.BAD_PAGE_SIZE,
            f"attentionLimit must be 0 to {MAX_ATTENTION}",
            field="attentionLimit",
        )
    scope = principal.scope.narrowed(shop_ids=shop_ids)
    machines = await list_machines(scope=scope)
    views = await health_for_machines(
        principal=principal, machines=machines, settings=settings, now=utcnow()
    )
    result = FleetHealth()
    connectivity: Counter[Connectivity] = Counter()
    statuses: Counter[MachineStatus | None] = Counter()
    needing: list[MachineHealthView] = []
    for view in views:
        if view.connectivity is Connectivity.DECOMMISSIONED:
            result.decommissioned += 1
            continue
        result.machines += 1
        connectivity[view.connectivity] += 1
        statuses[view.machine_status] += 1
        if any(
            r.code
            in (AttentionCode.MACHINE_ERROR, AttentionCode.MODULE_ERROR, AttentionCode.DEVICE_ERROR)
            for r in view.attention
        ):
            result.in_error += 1
        if view.attention:
            needing.append(view)
    needing.sort(key=lambda v: (min(URGENCY[r.code] for r in v.attention), str(v.machine.id)))
    result.connectivity_counts = {
        c: connectivity[c] for c in Connectivity if c is not Connectivity.DECOMMISSIONED
    }
    result.status_counts = dict(statuses)
    result.attention_total = len(needing)
    result.attention = needing[:attention_limit]
    return result
