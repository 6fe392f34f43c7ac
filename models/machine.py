"""Machine documents and the per-model defaults for capacity and fill thresholds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from models.currencies import CashKind, Currency, parse_slot
from models.indexes import ascending
from models.organization import utcnow


class MachineModel(StrEnum):
    CI_10 = "CI-10"
    CI_50 = "CI-50"
    CI_100 = "CI-100"
    CI_200 = "CI-200"
    CI_300 = "CI-300"
    OTHER = "OTHER"


# Pieces a slot holds by model: (notes, coins). Counter-top CI-10 units hold a few hundred
# notes per denomination; back-office CI-100/200/300 units hold thousands.
DEFAULT_CAPACITY: dict[MachineModel, tuple[int, int]] = {
    MachineModel.CI_10: (200, 500),
    MachineModel.CI_50: (400, 1000),
    MachineModel.CI_100: (1000, 2000),
    MachineModel.CI_200: (1500, 2500),
    MachineModel.CI_300: (2000, 3000),
    MachineModel.OTHER: (500, 1000),
}
# Pieces of one denomination a machine may hold, either way (a count below zero means the
# reported movements do not add up). No machine holds a tenth of it; the bound keeps every
# stored count far inside the schema's 32-bit Int.
MAX_SLOT_PIECES = 1_000_000
NEAR_EMPTY_FRACTION = 0.10
NEAR_FULL_FRACTION = 0.90


class SlotLimits(BaseModel):
    """Capacity and thresholds of one denomination slot, in pieces."""

    capacity: int = Field(gt=0)
    near_empty: int = Field(ge=0)
    near_full: int = Field(gt=0)


def default_limits(model: MachineModel, currency: Currency) -> dict[str, SlotLimits]:
    """Sensible limits for every slot of the currency on this machine model."""
    notes_cap, coins_cap = DEFAULT_CAPACITY[model]
    limits: dict[str, SlotLimits] = {}
    for slot in currency.slots():
        kind, _ = parse_slot(slot)
        cap = notes_cap if kind is CashKind.NOTE else coins_cap
        limits[slot] = SlotLimits(
            capacity=cap,
            near_empty=int(cap * NEAR_EMPTY_FRACTION),
            near_full=int(cap * NEAR_FULL_FRACTION),
        )
    return limits


class Machine(Document):
    """A cash recycler in a shop. `serial` is unique per organization (decommissioned ones
    included: their history keeps the serial).

    `first_seq` is the first local sequence number the cloud expects from the machine's local
    system; gaps are reported from there on.
    """

    org_id: PydanticObjectId
    shop_id: PydanticObjectId
    serial: str
    model: MachineModel
    currency: str
    name: str | None = None
    limits: dict[str, SlotLimits]
    first_seq: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    # Retired: history and chain kept, no telemetry taken, not counted in fleet health.
    decommissioned_at: datetime | None = None
    decommission_reason: str | None = None

    class Settings:
        name = "machines"
        indexes = [
            ascending("org_id", "serial", unique=True),
            ascending("org_id", "shop_id"),
            # A scope filter over a list of machines, `{org_id, _id: {$in: [...]}}`, uses it;
            # without it SecantusDB scans the collection (10x slower at 3,000 machines).
            ascending("org_id", "_id"),
        ]
