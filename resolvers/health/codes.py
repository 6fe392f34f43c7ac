"""What the machines' raw codes mean: the one place that maps Glory's numbers to our enums.

Sources: Glory's FCC device interface as documented publicly (`Status.Code` of the whole
machine, `DevStatus.st` per module, the inventory status per cash unit), summarised in
docs/glory-machines.md. Back-office models (CI-100/200/300) are modelled the same way. A code
that is not in a table maps to UNKNOWN and is stored with its raw value: firmware adds codes,
and dropping a report because of one would lose what the machine said.
"""

from __future__ import annotations

from enum import StrEnum


class MachineStatus(StrEnum):
    INITIALIZING = "INITIALIZING"
    IDLE = "IDLE"
    STARTING_CHANGE = "STARTING_CHANGE"
    WAITING_FOR_CASH = "WAITING_FOR_CASH"
    COUNTING = "COUNTING"
    DISPENSING = "DISPENSING"
    WAITING_FOR_REMOVAL = "WAITING_FOR_REMOVAL"
    RESETTING = "RESETTING"
    CANCELLING = "CANCELLING"
    CALCULATING_CHANGE = "CALCULATING_CHANGE"
    COLLECTING = "COLLECTING"
    ERROR = "ERROR"
    FIRMWARE_UPDATE = "FIRMWARE_UPDATE"
    READING_LOG = "READING_LOG"
    REPLENISHING = "REPLENISHING"
    UNLOCKING = "UNLOCKING"
    WAITING_INVENTORY = "WAITING_INVENTORY"
    FIXED_DEPOSIT = "FIXED_DEPOSIT"
    FIXED_DISPENSE = "FIXED_DISPENSE"
    WAITING_DISPENSE = "WAITING_DISPENSE"
    SUSPECT_NOTE_COUNTED = "SUSPECT_NOTE_COUNTED"
    WAITING_DEPOSIT_END = "WAITING_DEPOSIT_END"
    WAITING_OVERFLOW_REMOVAL = "WAITING_OVERFLOW_REMOVAL"
    SEALING = "SEALING"
    WAITING_ERROR_RECOVERY = "WAITING_ERROR_RECOVERY"
    PROGRAM_BUSY = "PROGRAM_BUSY"
    WAITING_UPDATE = "WAITING_UPDATE"
    UNKNOWN = "UNKNOWN"


_S = MachineStatus
MACHINE_STATUS_CODES: dict[int, MachineStatus] = {
    0: _S.INITIALIZING,
    1: _S.IDLE,
    2: _S.STARTING_CHANGE,
    3: _S.WAITING_FOR_CASH,
    4: _S.COUNTING,
    5: _S.DISPENSING,
    6: _S.WAITING_FOR_REMOVAL,
    7: _S.WAITING_FOR_REMOVAL,
    8: _S.RESETTING,
    9: _S.CANCELLING,
    10: _S.CALCULATING_CHANGE,
    11: _S.CANCELLING,
    12: _S.COLLECTING,
    13: _S.ERROR,
    14: _S.FIRMWARE_UPDATE,
    15: _S.READING_LOG,
    16: _S.REPLENISHING,
    17: _S.REPLENISHING,
    18: _S.UNLOCKING,
    19: _S.WAITING_INVENTORY,
    20: _S.FIXED_DEPOSIT,
    21: _S.FIXED_DISPENSE,
    22: _S.WAITING_DISPENSE,
    23: _S.CANCELLING,
    24: _S.SUSPECT_NOTE_COUNTED,
    25: _S.WAITING_DEPOSIT_END,
    26: _S.WAITING_OVERFLOW_REMOVAL,
    27: _S.SEALING,
    30: _S.WAITING_ERROR_RECOVERY,
    40: _S.PROGRAM_BUSY,
    41: _S.WAITING_UPDATE,
}
# Statuses in which the machine cannot serve customers because something is wrong.
ERROR_STATUSES = frozenset({MachineStatus.ERROR, MachineStatus.WAITING_ERROR_RECOVERY})


class DeviceModule(StrEnum):
    NOTE_UNIT = "NOTE_UNIT"
    COIN_UNIT = "COIN_UNIT"
    UNKNOWN = "UNKNOWN"


DEVICE_MODULES: dict[int, DeviceModule] = {1: DeviceModule.NOTE_UNIT, 2: DeviceModule.COIN_UNIT}


class ModuleStatus(StrEnum):
    INITIALIZING = "INITIALIZING"
    IDLE = "IDLE"
    IDLE_OCCUPIED = "IDLE_OCCUPIED"
    DEPOSITING = "DEPOSITING"
    DISPENSING = "DISPENSING"
    REFILLING = "REFILLING"
    RESETTING = "RESETTING"
    COLLECTING = "COLLECTING"
    ADJUSTING_INVENTORY = "ADJUSTING_INVENTORY"
    DOWNLOADING = "DOWNLOADING"
    BUSY = "BUSY"
    ERROR = "ERROR"
    COMMUNICATION_ERROR = "COMMUNICATION_ERROR"
    WAITING_FOR_RESET = "WAITING_FOR_RESET"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    LOCKED_BY_OTHER_SESSION = "LOCKED_BY_OTHER_SESSION"
    UNKNOWN = "UNKNOWN"


_M = ModuleStatus
# (lowest code, highest code) -> status; the FCC groups related states by thousands.
MODULE_STATUS_RANGES: list[tuple[int, int, ModuleStatus]] = [
    (0, 0, _M.INITIALIZING),
    (1000, 1000, _M.IDLE),
    (1500, 1500, _M.IDLE_OCCUPIED),
    (2000, 2999, _M.DEPOSITING),
    (3000, 3999, _M.DISPENSING),
    (4000, 4999, _M.REFILLING),
    (5000, 5999, _M.RESETTING),
    (6000, 6999, _M.COLLECTING),
    (7000, 7999, _M.ADJUSTING_INVENTORY),
    (8000, 8999, _M.DOWNLOADING),
    (9100, 9100, _M.BUSY),
    (9200, 9200, _M.ERROR),
    (9300, 9300, _M.COMMUNICATION_ERROR),
    (9400, 9400, _M.WAITING_FOR_RESET),
    (9500, 9500, _M.CONFIGURATION_ERROR),
    (50000, 50000, _M.LOCKED_BY_OTHER_SESSION),
]
MODULE_ERROR_STATUSES = frozenset(
    {_M.ERROR, _M.COMMUNICATION_ERROR, _M.WAITING_FOR_RESET, _M.CONFIGURATION_ERROR}
)


class UnitStatus(StrEnum):
    EMPTY = "EMPTY"
    NEAR_EMPTY = "NEAR_EMPTY"
    EXISTS = "EXISTS"
    NEAR_FULL = "NEAR_FULL"
    FULL = "FULL"
    MISSING = "MISSING"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    UNKNOWN = "UNKNOWN"


UNIT_STATUS_CODES: dict[int, UnitStatus] = {
    0: UnitStatus.EMPTY,
    1: UnitStatus.NEAR_EMPTY,
    2: UnitStatus.EXISTS,
    3: UnitStatus.NEAR_FULL,
    4: UnitStatus.FULL,
    21: UnitStatus.MISSING,
    22: UnitStatus.NOT_AVAILABLE,
}


class UnitPurpose(StrEnum):
    """What a cash unit holds: dispensable stock, or cash only a collection removes."""

    RECYCLE = "RECYCLE"
    COLLECTION_BOX = "COLLECTION_BOX"
    OVERFLOW = "OVERFLOW"
    COIN_HOPPER = "COIN_HOPPER"
    COIN_OVERFLOW = "COIN_OVERFLOW"
    ESCROW = "ESCROW"
    OTHER = "OTHER"


# Units whose fill only a collection brings down (COLLECTION_NEAR_FULL / _FULL alerts).
COLLECTION_PURPOSES = frozenset(
    {UnitPurpose.COLLECTION_BOX, UnitPurpose.OVERFLOW, UnitPurpose.COIN_OVERFLOW}
)


class ErrorCategory(StrEnum):
    """What kind of fault a device error is; the local system may send it with the raw code
    (it knows its firmware), otherwise `ERROR_CODE_CATEGORIES` decides, else UNKNOWN."""

    NOTE_JAM = "NOTE_JAM"
    COIN_JAM = "COIN_JAM"
    CASH_SHORTAGE = "CASH_SHORTAGE"
    UNIT_FULL = "UNIT_FULL"
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    COUNT_MISMATCH = "COUNT_MISMATCH"
    RECOVERY_FAILED = "RECOVERY_FAILED"
    DEVICE_ERROR = "DEVICE_ERROR"
    PROGRAM_ERROR = "PROGRAM_ERROR"
    PARAMETER_ERROR = "PARAMETER_ERROR"
    COMMUNICATION_ERROR = "COMMUNICATION_ERROR"
    SUSPECT_NOTE = "SUSPECT_NOTE"
    UNKNOWN = "UNKNOWN"


# Error codes as the reference agent reports them: the FCC result-code families, and the
# module error states (a module in 9200/9300/9500 reports that code as its error).
ERROR_CODE_CATEGORIES: dict[str, ErrorCategory] = {
    "NOTE_JAM": ErrorCategory.NOTE_JAM,
    "COIN_JAM": ErrorCategory.COIN_JAM,
    "CASH_SHORTAGE": ErrorCategory.CASH_SHORTAGE,
    "STACKER_FULL": ErrorCategory.UNIT_FULL,
    "VERIFICATION_FAILED": ErrorCategory.VERIFICATION_FAILED,
    "DISPENSE_INCONSISTENT": ErrorCategory.COUNT_MISMATCH,
    "DEPOSIT_INCONSISTENT": ErrorCategory.COUNT_MISMATCH,
    "RECOVERY_FAILED": ErrorCategory.RECOVERY_FAILED,
    "DEVICE_ERROR": ErrorCategory.DEVICE_ERROR,
    "PROGRAM_ERROR": ErrorCategory.PROGRAM_ERROR,
    "PARAMETER_ERROR": ErrorCategory.PARAMETER_ERROR,
    "CI_SERVER_COMMUNICATION": ErrorCategory.COMMUNICATION_ERROR,
    "SUSPECT_NOTE": ErrorCategory.SUSPECT_NOTE,
    "9200": ErrorCategory.DEVICE_ERROR,
    "9300": ErrorCategory.COMMUNICATION_ERROR,
    "9500": ErrorCategory.PARAMETER_ERROR,
}


def machine_status(code: int) -> MachineStatus:
    return MACHINE_STATUS_CODES.get(code, MachineStatus.UNKNOWN)


def device_module(number: int) -> DeviceModule:
    return DEVICE_MODULES.get(number, DeviceModule.UNKNOWN)


def module_status(code: int) -> ModuleStatus:
    for low, high, status in MODULE_STATUS_RANGES:
        if low <= code <= high:
            return status
    return ModuleStatus.UNKNOWN


def unit_status(code: int) -> UnitStatus:
    return UNIT_STATUS_CODES.get(code, UnitStatus.UNKNOWN)


def error_category(code: str, reported: ErrorCategory | None) -> ErrorCategory:
    if reported is not None:
        return reported
    return ERROR_CODE_CATEGORIES.get(code.upper(), ErrorCategory.UNKNOWN)
