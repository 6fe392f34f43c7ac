"""The evaluator loops a worker runs: a fault is evaluated while a forecast sweep (seconds
for a large organization) is still running."""

from __future__ import annotations

import asyncio

import pytest

import resolvers.alerts.evaluator as evaluator
from config import Settings
from models.organization import utcnow
from tests.alert_support import incidents, seen_clock
from tests.factories import Factory, message
from tests.servers import eventually

FULL_BOX = {"number": 5, "purpose": "COLLECTION_BOX", "statusCode": 4}


async def test_a_fault_fires_while_a_forecast_sweep_is_still_running(
    factory: Factory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeping, finish_sweep = asyncio.Event(), asyncio.Event()

    async def sweep_that_takes_long(*, now: object) -> int:
        sweeping.set()
        await finish_sweep.wait()
        return 0

    monkeypatch.setattr(evaluator, "sweep_forecasts", sweep_that_takes_long)
    tenant = await factory.tenant()
    await seen_clock(factory, tenant)
    loops = [
        asyncio.create_task(evaluator.run_alert_evaluator(settings)),
        asyncio.create_task(evaluator.run_forecast_sweeper()),
    ]
    try:
        await asyncio.wait_for(sweeping.wait(), timeout=10)
        await factory.report(tenant, [message("UNITS", 2, at=utcnow(), units=[FULL_BOX])])

        async def fired() -> bool:
            found = await incidents(tenant, rule="COLLECTION_FULL", state="FIRING")
            return bool(found)

        await eventually(fired, timeout=15, what="COLLECTION_FULL firing during the sweep")
        assert not finish_sweep.is_set()
    finally:
        finish_sweep.set()
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
