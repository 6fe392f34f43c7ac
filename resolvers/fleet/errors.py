"""Error codes of the fleet domain (shops, machines, their settings)."""

from enum import StrEnum


class FleetErrorCode(StrEnum):
    MACHINE_NOT_COVERED = "MACHINE_NOT_COVERED"
    MACHINE_DECOMMISSIONED = "MACHINE_DECOMMISSIONED"
