"""The currency catalog: denominations in circulation per ISO 4217 currency, in minor units.

Loaded once from `models/data/currencies.json`. A cash slot is identified by kind and face
value (`N500` is the 5 euro note, `C100` the 1 euro coin) because some currencies have a note
and a coin of the same value (the US dollar).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).parent / "data" / "currencies.json"


class CashKind(StrEnum):
    NOTE = "N"
    COIN = "C"


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int
    notes: tuple[int, ...]
    coins: tuple[int, ...]

    def kinds_of(self, denomination: int) -> list[CashKind]:
        kinds = []
        if denomination in self.notes:
            kinds.append(CashKind.NOTE)
        if denomination in self.coins:
            kinds.append(CashKind.COIN)
        return kinds

    def kind_for(
        self, denomination: int, kind: CashKind | None
    ) -> tuple[CashKind | None, str | None]:
        """The kind of `denomination` (given, or the only one it has), or (None, why not):
        not a denomination of the currency, or both note and coin with no `kind` given."""
        kinds = self.kinds_of(denomination)
        if kind is not None:
            if kind in kinds:
                return kind, None
            return None, f"{self.code} has no {kind.name.lower()} of {denomination}"
        if len(kinds) == 1:
            return kinds[0], None
        if not kinds:
            return None, f"{denomination} is not a {self.code} denomination"
        return None, f"{denomination} exists as note and coin; give kind"

    def slots(self) -> list[str]:
        """Every slot key of the currency, notes first, each by ascending value."""
        return [slot_key(CashKind.NOTE, v) for v in self.notes] + [
            slot_key(CashKind.COIN, v) for v in self.coins
        ]


def slot_key(kind: CashKind | str, denomination: int) -> str:
    """`N500`: the kind (a CashKind, or its stored value) and the face value."""
    return f"{CashKind(kind).value}{denomination}"


def parse_slot(slot: str) -> tuple[CashKind, int]:
    return CashKind(slot[0]), int(slot[1:])


@cache
def catalog() -> dict[str, Currency]:
    raw = json.loads(CATALOG_PATH.read_text())["currencies"]
    return {
        code: Currency(
            code=code,
            exponent=entry["exponent"],
            notes=tuple(sorted(entry["notes"])),
            coins=tuple(sorted(entry["coins"])),
        )
        for code, entry in raw.items()
    }


def get_currency(code: str) -> Currency | None:
    return catalog().get(code)
