"""Cost guards: database round trips do not grow with page size (DataLoaders), and the hot
pipelines start with an index scan, never a collection scan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from beanie import init_beanie
from pymongo import AsyncMongoClient, monitoring

import models.db as db_module
from config import Settings
from models.analytics_store import (
    FlowGroup,
    Grain,
    collection,
    flow_pipeline,
    raw_demand_pipeline,
    raw_slot_pipeline,
    raw_type_pipeline,
    slot_flow_pipeline,
    summaries_in_scope,
)
from models.db import Database
from models.identity import Role
from models.ledger import Transaction
from models.schema import DOCUMENT_MODELS
from models.scope import Scope
from tests.conftest import DB_NAME
from tests.factories import Factory, gql_data, tx


class CommandCounter(monitoring.CommandListener):
    """Counts commands sent to the server while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active:
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counter(database: Database, settings: Settings) -> AsyncIterator[CommandCounter]:
    """Route the app's data access through a dedicated, monitored client for one test."""
    listener = CommandCounter()
    client: AsyncMongoClient = AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[listener],
    )
    original = db_module._database
    await init_beanie(database=client[DB_NAME], document_models=DOCUMENT_MODELS)
    db_module._database = Database(client=client, db=client[DB_NAME])
    try:
        yield listener
    finally:
        await init_beanie(database=database.db, document_models=DOCUMENT_MODELS)
        db_module._database = original
        await client.close()


PAGES = {
    "shops": """query P($ids: [ID!]) { shops(ids: $ids) {
        id name machines { id serial shop { id } inventory { totalValue } } } }""",
    "overview": """query P { overview(top: 100) {
        topShops { shop { id name machines { id inventory { totalValue } } } held { value } }
    } }""",
    "cashFlow": """query P($ids: [ID!], $from: DateTime!, $to: DateTime!) {
        cashFlow(from: $from, to: $to, interval: DAY, groupBy: MACHINE, shopIds: $ids) {
            series { machine { id serial shop { name } inventory { totalValue } } net }
        }
        bySHop: cashFlow(from: $from, to: $to, interval: DAY, groupBy: SHOP, shopIds: $ids) {
            series { shop { id name machines { id } } net }
        }
    }""",
    "forecast": """query P($ids: [ID!]) { replenishmentForecast(shopIds: $ids, horizonHours: 24) {
        machines { machine { id inventory { totalValue } } shop { id name } }
    } }""",
}


async def test_round_trips_do_not_grow_with_page_size(
    factory: Factory, counter: CommandCounter
) -> None:
    tenant = await factory.tenant(shops=12, machines_per_shop=2)
    for shop_index in range(12):
        key = await factory.api_key(tenant, shop_index=shop_index)
        for machine in tenant.machines[2 * shop_index : 2 * shop_index + 2]:
            await factory.ingest(
                tenant,
                [tx(1, "REPLENISHMENT", [(1000, 10)])],
                machine_id=str(machine.id),
                api_key=key,
            )
    now = datetime.now(UTC)
    for name, query in PAGES.items():
        costs = {}
        for size in (2, 12):
            variables = {
                "ids": [str(s.id) for s in tenant.shops[:size]],
                "from": (now - timedelta(days=3)).isoformat(),
                "to": (now + timedelta(days=1)).isoformat(),
            }
            variables = {k: v for k, v in variables.items() if f"${k}" in query}
            if name == "overview":  # no page argument: the page is every shop in scope
                _, token = await factory.user(tenant, Role.SHOP_MANAGER, list(range(size)))
            else:
                token = tenant.admin_token
            counter.commands.clear()
            counter.active = True
            data = await gql_data(factory.client, query, variables, token=token)
            counter.active = False
            assert json.dumps(data).count('"id"') >= size, data
            costs[size] = list(counter.commands)
        # Loader batches may reach the server in a different order, never in greater number.
        assert sorted(costs[12]) == sorted(costs[2]), (name, costs)
        assert len(costs[12]) <= 12, (name, costs[12])


def winning_plan(explained: dict) -> str:
    """The winning plan of the first stage's query, as text (stage names like IXSCAN)."""
    stages = explained.get("stages")
    planner = stages[0]["$cursor"]["queryPlanner"] if stages else explained["queryPlanner"]
    return json.dumps(planner["winningPlan"], default=str)


async def assert_index_backed(database: Database, name: str, coll: str, pipeline: list) -> None:
    """The pipeline's first $match and the $match of every $unionWith branch use an index."""
    assert "org_id" in pipeline[0]["$match"], name
    branches = [(coll, pipeline)] + [
        (stage["$unionWith"]["coll"], stage["$unionWith"]["pipeline"])
        for stage in pipeline
        if "$unionWith" in stage
    ]
    for branch_coll, branch in branches:
        explained = await database.db.command(
            {
                "explain": {"aggregate": branch_coll, "pipeline": branch[:1], "cursor": {}},
                "verbosity": "queryPlanner",
            }
        )
        plan = winning_plan(explained)
        assert "IXSCAN" in plan, (name, plan)
        assert "COLLSCAN" not in plan, (name, plan)


@pytest.mark.parametrize(
    "scope_kind", ["organization", "shops", "one shop", "machines", "one machine", "both"]
)
async def test_hot_pipelines_start_with_an_index_scan(
    factory: Factory, database: Database, scope_kind: str
) -> None:
    tenant = await factory.tenant(shops=2, machines_per_shop=2)
    await factory.ingest(tenant, [tx(1, "DEPOSIT", [(1000, 1)])])
    scope = Scope.organization(tenant.org.id)
    shops = [s.id for s in tenant.shops]
    machines = [m.id for m in tenant.machines[:3]]
    if scope_kind == "shops":
        scope = scope.narrowed(shop_ids=shops)
    elif scope_kind == "one shop":
        scope = scope.narrowed(shop_ids=shops[1:])
    elif scope_kind == "one machine":
        scope = scope.narrowed(machine_ids=machines[:1])
    elif scope_kind == "machines":
        scope = scope.narrowed(machine_ids=machines)
    elif scope_kind == "both":
        scope = scope.narrowed(shop_ids=shops[:1], machine_ids=machines)
    now = datetime.now(UTC)
    start, end = now - timedelta(days=90), now + timedelta(days=1)
    window = {"start": start, "end": end, "timezone": "Europe/Berlin"}

    def flow(grain: Grain, unit: str, group_by: FlowGroup, currency: str | None) -> tuple:
        """A cashFlow pipeline over the window in Berlin time, with the grain it reads."""
        pipeline = flow_pipeline(
            scope, grain=grain, unit=unit, group_by=group_by, currency=currency, **window
        )
        return grain, pipeline

    hot = {
        "cashFlow day": flow(Grain.DAY, "day", FlowGroup.SHOP, None),
        "cashFlow hour": flow(Grain.HOUR, "week", FlowGroup.SLOT, "EUR"),
        "cashFlow and overview rollup": (
            Grain.MONTH,
            summaries_in_scope(scope, start=start, end=end, currency="EUR"),
        ),
        "forecast demand": (
            Grain.DEMAND,
            summaries_in_scope(scope, start=end - timedelta(days=2), end=end),
        ),
        "breakdown at": (Grain.HOUR, slot_flow_pipeline(scope, start=start)),
    }
    for name, (grain, pipeline) in hot.items():
        await assert_index_backed(database, name, collection(grain).name, pipeline)
    raw = {
        "rebuild types": raw_type_pipeline(scope, grain=Grain.DAY, **window),
        "rebuild slots": raw_slot_pipeline(
            scope, grain=Grain.HOUR, start=start, end=end, timezone="UTC"
        ),
        "rebuild demand": raw_demand_pipeline(scope, **window),
    }
    for name, pipeline in raw.items():
        await assert_index_backed(database, name, Transaction.Settings.name, pipeline)
