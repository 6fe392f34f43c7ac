"""The simulator's traffic: reproducible, in opening hours of the shop's time zone, only real
denominations, and never dispensing cash the machine does not hold."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from models.currencies import get_currency
from simulator.traffic import MachineTraffic, ShopProfile
from simulator.verify import inventory_of

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "profile",
    [
        ShopProfile("Asia/Tokyo", "JPY", time(10), time(20)),
        ShopProfile("America/New_York", "USD", time(10), time(21)),
        ShopProfile("Europe/Berlin", "EUR", time(8), time(20)),
    ],
)
def test_a_machines_days_are_realistic(profile: ShopProfile) -> None:
    txs = MachineTraffic(profile, seed=3).generate(500, now=NOW)
    currency = get_currency(profile.currency)
    assert currency is not None
    tz = ZoneInfo(profile.timezone)

    assert len(txs) == 500
    assert [t["occurred_at"] for t in txs] == sorted(t["occurred_at"] for t in txs)
    for tx in txs:
        local = tx["occurred_at"].astimezone(tz)
        assert profile.opens <= local.time() <= profile.closes, local
        assert local.date() < NOW.astimezone(tz).date(), "only days that are over"
        for line in tx["lines"]:
            values = currency.notes if line["kind"] == "NOTE" else currency.coins
            assert line["denomination"] in values
            assert line["count"] > 0
        assert tx["amount"] == sum(ln["denomination"] * ln["count"] for ln in tx["lines"])
    types = Counter(t["type"] for t in txs)
    assert types["DEPOSIT"] > types["WITHDRAWAL"] > 0
    assert types["COLLECTION"] >= 1
    assert txs[0]["type"] == "REPLENISHMENT", "a day opens with the float"


def test_withdrawals_never_take_more_than_the_machine_holds() -> None:
    txs = MachineTraffic(ShopProfile("Europe/London", "GBP"), seed=9).generate(800, now=NOW)
    for n in range(1, len(txs) + 1):
        assert min(inventory_of(txs[:n]).values(), default=0) >= 0


def test_the_same_seed_gives_the_same_traffic() -> None:
    profile = ShopProfile("Europe/Zurich", "CHF")
    first = MachineTraffic(profile, seed=5).generate(200, now=NOW)
    again = MachineTraffic(profile, seed=5).generate(200, now=NOW)
    other = MachineTraffic(profile, seed=6).generate(200, now=NOW)
    assert first == again
    assert first != other
