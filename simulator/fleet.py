"""Setting up the simulated fleet through the public API: shops are reused by code, each run
registers its own machines (so the end-of-run check compares exactly) and one API key per
shop limited to those machines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from simulator.api import CloudApi
from simulator.traffic import ShopProfile

# Shops of a retailer across time zones and currencies; opening hours vary a little.
SHOP_PROFILES = (
    ("Berlin Mitte", ShopProfile("Europe/Berlin", "EUR", time(8), time(20))),
    ("London Soho", ShopProfile("Europe/London", "GBP", time(9), time(21))),
    ("New York 5th Ave", ShopProfile("America/New_York", "USD", time(10), time(21))),
    ("Zurich Bahnhofstrasse", ShopProfile("Europe/Zurich", "CHF", time(9), time(19))),
    ("Tokyo Ginza", ShopProfile("Asia/Tokyo", "JPY", time(10), time(20))),
    ("Stockholm Drottninggatan", ShopProfile("Europe/Stockholm", "SEK", time(10), time(19))),
    ("Warsaw Centrum", ShopProfile("Europe/Warsaw", "PLN", time(9), time(21))),
    ("Bangkok Siam", ShopProfile("Asia/Bangkok", "THB", time(10), time(22))),
    ("Paris Marais", ShopProfile("Europe/Paris", "EUR", time(9), time(20))),
    ("Oslo Karl Johan", ShopProfile("Europe/Oslo", "NOK", time(10), time(20))),
)
MODELS = ("CI_10", "CI_50", "CI_100")


@dataclass(frozen=True)
class FleetMachine:
    shop_code: str
    shop_id: str
    shop_name: str
    machine_id: str
    serial: str
    api_key: str
    profile: ShopProfile
    outbox_path: Path


def _profile_for(index: int, shop: dict[str, Any]) -> ShopProfile:
    base = SHOP_PROFILES[index % len(SHOP_PROFILES)][1]
    return ShopProfile(shop["timezone"], shop["currency"], base.opens, base.closes)


async def set_up_fleet(
    api: CloudApi, *, shops: int, machines: int, run_id: str, state_dir: Path
) -> list[FleetMachine]:
    """Shops `SIM-01`.. (created when missing), `machines` new machines per shop for this run,
    and a key per shop covering only them. Outboxes live under `state_dir/run_id`."""
    existing = {s["code"]: s for s in await api.shops()}
    fleet: list[FleetMachine] = []
    for i in range(shops):
        code = f"SIM-{i + 1:02d}"
        shop = existing.get(code)
        if shop is None:
            name, profile = SHOP_PROFILES[i % len(SHOP_PROFILES)]
            shop = await api.create_shop(
                name=name, code=code, timezone=profile.timezone, currency=profile.currency
            )
        profile = _profile_for(i, shop)
        registered = []
        for m in range(machines):
            serial = f"SIM-{run_id}-{i + 1:02d}-{m + 1}"
            registered.append(
                await api.register_machine(
                    shop_id=shop["id"], serial=serial, model=MODELS[(i + m) % len(MODELS)]
                )
            )
        key = await api.create_api_key(
            shop_id=shop["id"],
            machine_ids=[m["id"] for m in registered],
            name=f"simulator {run_id}",
        )
        fleet += [
            FleetMachine(
                shop_code=code,
                shop_id=shop["id"],
                shop_name=shop["name"],
                machine_id=m["id"],
                serial=m["serial"],
                api_key=key,
                profile=profile,
                outbox_path=state_dir / run_id / f"{m['serial']}.sqlite",
            )
            for m in registered
        ]
    return fleet
