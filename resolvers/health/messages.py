"""Validation of telemetry messages (pure).

Each message names a `kind` and carries the section of that kind. Validation normalises the
section into `body`, the plain mapping stored in the telemetry log and folded onto the twin
(resolvers/health/twin.py). A bad message is rejected on its own with a code and a message
naming the field; raw codes the tables do not know are kept as UNKNOWN, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from models.currencies import Currency
from models.health import TelemetryKind
from resolvers.cash import CashCount
from resolvers.health.codes import (
    device_module,
    error_category,
    machine_status,
    module_status,
    unit_status,
)
from resolvers.health.reports import (
    DeviceCountsReport,
    DoorReport,
    ErrorReport,
    FirmwareReport,
    HeartbeatReport,
    StatusReport,
    SuspectNotesReport,
    TelemetryMessage,
    UnitReport,
)
from resolvers.timestamps import to_utc
from resolvers.validation import is_text

MAX_MESSAGES_PER_REQUEST = 500
MAX_EVENT_ID_LENGTH = 128
MAX_SEQ = 2**63 - 1
MAX_CODE = 2**31 - 1
MAX_SHORT_TEXT = 64
MAX_LONG_TEXT = 500
MAX_ITEMS = 64
MAX_PIECES = 1_000_000
MAX_DENOMINATION = 10**9


class TelemetryRejectionCode(StrEnum):
    INVALID_EVENT_ID = "INVALID_EVENT_ID"
    INVALID_SEQ = "INVALID_SEQ"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    MISSING_SECTION = "MISSING_SECTION"
    UNEXPECTED_SECTION = "UNEXPECTED_SECTION"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"
    DUPLICATE_ITEM = "DUPLICATE_ITEM"
    UNKNOWN_DENOMINATION = "UNKNOWN_DENOMINATION"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    INVALID_TEXT = "INVALID_TEXT"


SECTION_OF: dict[TelemetryKind, str] = {
    TelemetryKind.HEARTBEAT: "heartbeat",
    TelemetryKind.STATUS: "status",
    TelemetryKind.UNITS: "units",
    TelemetryKind.DEVICE_COUNTS: "device_counts",
    TelemetryKind.ERROR: "error",
    TelemetryKind.ERROR_CLEARED: "error",
    TelemetryKind.DOOR: "door",
    TelemetryKind.SUSPECT_NOTES: "suspect_notes",
    TelemetryKind.FIRMWARE: "firmware",
}
SECTION_INPUT_NAMES = {
    "heartbeat": "heartbeat",
    "status": "status",
    "units": "units",
    "device_counts": "deviceCounts",
    "error": "error",
    "door": "door",
    "suspect_notes": "suspectNotes",
    "firmware": "firmware",
}


@dataclass(frozen=True)
class MessageRejection:
    index: int
    event_id: str | None
    code: TelemetryRejectionCode
    message: str


@dataclass(frozen=True)
class ValidMessage:
    index: int
    event_id: str
    seq: int
    kind: TelemetryKind
    observed_at: datetime
    body: dict[str, Any]


class _Invalid(Exception):
    def __init__(self, code: TelemetryRejectionCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _int(where: str, value: int | None, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise _Invalid(TelemetryRejectionCode.OUT_OF_RANGE, f"{where} must be {low} to {high}")
    return value


def _text(where: str, value: str | None, max_length: int) -> str | None:
    if value is None:
        return None
    if not is_text(value):
        raise _Invalid(TelemetryRejectionCode.INVALID_TEXT, f"{where} is not valid Unicode text")
    if len(value) > max_length:
        raise _Invalid(
            TelemetryRejectionCode.FIELD_TOO_LONG, f"{where} exceeds {max_length} characters"
        )
    return value


def _items(where: str, items: list[Any]) -> list[Any]:
    if len(items) > MAX_ITEMS:
        raise _Invalid(TelemetryRejectionCode.TOO_MANY_ITEMS, f"{where}: at most {MAX_ITEMS}")
    return items


def _instant(where: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    utc = to_utc(value)
    if utc is None:
        raise _Invalid(
            TelemetryRejectionCode.INVALID_TIMESTAMP, f"{where} must be between 1970 and 9998"
        )
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _pieces(where: str, items: list[CashCount], currency: Currency) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for n, item in enumerate(_items(where, items)):
        at = f"{where}[{n}]"
        _int(f"{at}.denomination", item.denomination, 1, MAX_DENOMINATION)
        _int(f"{at}.count", item.count, 0, MAX_PIECES)
        kind, problem = currency.kind_for(item.denomination, item.kind)
        if kind is None:
            raise _Invalid(TelemetryRejectionCode.UNKNOWN_DENOMINATION, f"{at}: {problem}")
        if (kind.value, item.denomination) in seen:
            raise _Invalid(
                TelemetryRejectionCode.DUPLICATE_ITEM, f"{at}: denomination listed twice"
            )
        seen.add((kind.value, item.denomination))
        out.append({"kind": kind.value, "denomination": item.denomination, "count": item.count})
    return out


def _heartbeat(hb: HeartbeatReport, currency: Currency) -> dict[str, Any]:
    return {
        "agent_version": _text("heartbeat.agentVersion", hb.agent_version, MAX_SHORT_TEXT),
        "last_journaled_seq": _int("heartbeat.lastJournaledSeq", hb.last_journaled_seq, 0, MAX_SEQ),
        "outbox_backlog": _int("heartbeat.outboxBacklog", hb.outbox_backlog, 0, MAX_CODE),
        "outbox_oldest_age_seconds": _int(
            "heartbeat.outboxOldestAgeSeconds", hb.outbox_oldest_age_seconds, 0, MAX_CODE
        ),
        "device_heartbeat_at": _instant("heartbeat.deviceHeartbeatAt", hb.device_heartbeat_at),
    }


def _status(st: StatusReport, currency: Currency) -> dict[str, Any]:
    _int("status.code", st.code, -MAX_CODE, MAX_CODE)
    modules = []
    numbers: set[int] = set()
    for n, mod in enumerate(_items("status.modules", st.modules)):
        _int(f"status.modules[{n}].module", mod.module, 0, MAX_CODE)
        _int(f"status.modules[{n}].code", mod.code, -MAX_CODE, MAX_CODE)
        if mod.module in numbers:
            raise _Invalid(
                TelemetryRejectionCode.DUPLICATE_ITEM, f"status.modules[{n}]: module listed twice"
            )
        numbers.add(mod.module)
        modules.append(
            {
                "module": device_module(mod.module).value,
                "module_number": mod.module,
                "status": module_status(mod.code).value,
                "code": mod.code,
            }
        )
    return {"status": machine_status(st.code).value, "code": st.code, "modules": modules}


def _units(units: list[UnitReport], currency: Currency) -> dict[str, Any]:
    out = []
    numbers: set[int] = set()
    for n, unit in enumerate(_items("units", units)):
        at = f"units[{n}]"
        _int(f"{at}.number", unit.number, 0, MAX_CODE)
        _int(f"{at}.statusCode", unit.status_code, -MAX_CODE, MAX_CODE)
        for name in ("near_empty", "near_full", "capacity"):
            _int(f"{at}.{name}", getattr(unit, name), 0, MAX_PIECES)
        if unit.number in numbers:
            raise _Invalid(TelemetryRejectionCode.DUPLICATE_ITEM, f"{at}: unit listed twice")
        numbers.add(unit.number)
        out.append(
            {
                "number": unit.number,
                "purpose": unit.purpose.value,
                "status": unit_status(unit.status_code).value,
                "status_code": unit.status_code,
                "pieces": _pieces(f"{at}.pieces", unit.pieces, currency),
                "near_empty": unit.near_empty,
                "near_full": unit.near_full,
                "capacity": unit.capacity,
            }
        )
    return {"units": sorted(out, key=lambda u: u["number"])}


def _device_counts(dc: DeviceCountsReport, currency: Currency) -> dict[str, Any]:
    return {
        "covers_seq": _int("deviceCounts.coversSeq", dc.covers_seq, 0, MAX_SEQ),
        "denominations": _pieces("deviceCounts.denominations", dc.denominations, currency),
    }


def _error(err: ErrorReport, currency: Currency) -> dict[str, Any]:
    code = _text("error.code", err.code, MAX_SHORT_TEXT) or ""
    if not code.strip():
        raise _Invalid(TelemetryRejectionCode.OUT_OF_RANGE, "error.code must not be empty")
    module = _int("error.module", err.module, 0, MAX_CODE)
    return {
        "code": code,
        "category": error_category(code, err.category).value,
        "message": _text("error.message", err.message, MAX_LONG_TEXT),
        "module": device_module(module).value if module is not None else None,
        "module_number": module,
        "recovering": err.recovering,
    }


def _door(door: DoorReport, currency: Currency) -> dict[str, Any]:
    name = _text("door.door", door.door, MAX_SHORT_TEXT) or ""
    if not name.strip():
        raise _Invalid(TelemetryRejectionCode.OUT_OF_RANGE, "door.door must not be empty")
    return {
        "door": name,
        "state": door.state.value,
        "unit": _int("door.unit", door.unit, 0, MAX_CODE),
        "operator_id": _text("door.operatorId", door.operator_id, MAX_SHORT_TEXT),
    }


def _suspect_notes(sn: SuspectNotesReport, currency: Currency) -> dict[str, Any]:
    return {
        "category2": _int("suspectNotes.category2", sn.category2, 0, MAX_PIECES),
        "category3": _int("suspectNotes.category3", sn.category3, 0, MAX_PIECES),
        "operator_id": _text("suspectNotes.operatorId", sn.operator_id, MAX_SHORT_TEXT),
        "transaction_seq": _int("suspectNotes.transactionSeq", sn.transaction_seq, 1, MAX_SEQ),
    }


def _firmware(modules: list[FirmwareReport], currency: Currency) -> dict[str, Any]:
    out: dict[str, str] = {}
    for n, mod in enumerate(_items("firmware", modules)):
        name = _text(f"firmware[{n}].module", mod.module, MAX_SHORT_TEXT) or ""
        version = _text(f"firmware[{n}].version", mod.version, MAX_SHORT_TEXT) or ""
        if name in out:
            raise _Invalid(TelemetryRejectionCode.DUPLICATE_ITEM, f"firmware[{n}]: listed twice")
        out[name] = version
    return {"modules": [{"module": m, "version": v} for m, v in sorted(out.items())]}


_NORMALISE = {
    "heartbeat": _heartbeat,
    "status": _status,
    "units": _units,
    "device_counts": _device_counts,
    "error": _error,
    "door": _door,
    "suspect_notes": _suspect_notes,
    "firmware": _firmware,
}


def _validate_one(
    index: int, msg: TelemetryMessage, currency: Currency, latest_allowed: datetime
) -> ValidMessage:
    event_id = msg.event_id
    if not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH or not event_id.isprintable():
        raise _Invalid(
            TelemetryRejectionCode.INVALID_EVENT_ID,
            f"eventId must be 1 to {MAX_EVENT_ID_LENGTH} printable characters",
        )
    if not 1 <= msg.seq <= MAX_SEQ:
        raise _Invalid(TelemetryRejectionCode.INVALID_SEQ, "seq must be a positive 64-bit integer")
    observed_at = _instant("observedAt", msg.observed_at)
    assert observed_at is not None
    if observed_at > latest_allowed:
        raise _Invalid(TelemetryRejectionCode.FUTURE_TIMESTAMP, "observedAt is too far ahead")
    wanted = SECTION_OF[msg.kind]
    for name, input_name in SECTION_INPUT_NAMES.items():
        present = getattr(msg, name) is not None
        if name == wanted and not present:
            raise _Invalid(
                TelemetryRejectionCode.MISSING_SECTION, f"{msg.kind.value} needs {input_name}"
            )
        if name != wanted and present:
            raise _Invalid(
                TelemetryRejectionCode.UNEXPECTED_SECTION,
                f"{input_name} does not belong in a {msg.kind.value} message",
            )
    body = _NORMALISE[wanted](getattr(msg, wanted), currency)
    return ValidMessage(index, event_id, msg.seq, msg.kind, observed_at, body)


@dataclass
class MessagesOutcome:
    valid: list[ValidMessage]
    rejected: list[MessageRejection]
    duplicates_in_request: int


def validate_messages(
    messages: list[TelemetryMessage],
    *,
    currency: Currency,
    now: datetime,
    max_future_skew: timedelta,
) -> MessagesOutcome:
    """Each message checked on its own; an eventId repeated within the request counts as a
    duplicate of its first occurrence."""
    valid: list[ValidMessage] = []
    rejected: list[MessageRejection] = []
    seen: set[str] = set()
    duplicates = 0
    for index, msg in enumerate(messages):
        try:
            checked = _validate_one(index, msg, currency, now + max_future_skew)
        except _Invalid as exc:
            shown = msg.event_id if is_text(msg.event_id) else None
            rejected.append(MessageRejection(index, shown, exc.code, str(exc)))
            continue
        if checked.event_id in seen:
            duplicates += 1
            continue
        seen.add(checked.event_id)
        valid.append(checked)
    return MessagesOutcome(valid, rejected, duplicates)
