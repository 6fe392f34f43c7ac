"""DataLoaders of machine health, one instance per request, scoped to the caller."""

from __future__ import annotations

from collections.abc import Callable

from strawberry.dataloader import DataLoader

from auth.principal import Principal
from config import Settings
from models.machine import Machine
from models.organization import utcnow
from resolvers.health.machine_health import MachineHealthView, health_for_machines


class HealthByMachineLoader(DataLoader[Machine, MachineHealthView]):
    def __init__(self, principal: Callable[[], Principal], settings: Settings) -> None:
        async def load(machines: list[Machine]) -> list[MachineHealthView]:
            return await health_for_machines(
                principal=principal(), machines=machines, settings=settings, now=utcnow()
            )

        super().__init__(load, cache_key_fn=lambda machine: machine.id)


class HealthLoaders:
    def __init__(self, principal: Callable[[], Principal], settings: Settings) -> None:
        self.health_by_machine = HealthByMachineLoader(principal, settings)
