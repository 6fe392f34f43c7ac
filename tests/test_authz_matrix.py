"""The authorization matrix, generated from `auth.rbac.PERMISSIONS`.

For every Query and Mutation field, every actor (each role, an API key, anonymous) calls the
operation on targets inside its scope, outside its scope in its organization, and in another
organization. Expected: not permitted by the table -> FORBIDDEN/UNAUTHENTICATED; permitted and
in scope -> the data; permitted but out of scope or foreign -> indistinguishable from "does
not exist" (null, empty, NOT_FOUND). Nested edges and id lookups are covered below; the cases
are in `tests/authz_query_cases.py` and `tests/authz_mutation_cases.py`, the table itself is
pinned in `tests/test_authz_policy.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from auth.rbac import PERMISSIONS
from config import Settings
from graph.schema import build_schema, root_operations
from tests.authz_cases import Case
from tests.authz_mutation_cases import MUTATION_CASES
from tests.authz_query_cases import QUERY_CASES
from tests.authz_world import ACTORS, VISIBLE, World, build_world
from tests.factories import Factory, gql

CASES: dict[str, Case] = {**QUERY_CASES, **MUTATION_CASES}


@pytest.fixture(scope="module")
async def world(client: Any, settings: Settings, database: Any) -> World:
    return await build_world(Factory(client=client, settings=settings))


@pytest.fixture(scope="module")
async def quiet_world(client: Any, settings: Settings, database: Any) -> World:
    """A world no mutation of the matrix touches (the nested-edge test counts everything)."""
    return await build_world(Factory(client=client, settings=settings))


def expected(operation: str, actor: str, target: str | None) -> str:
    rule = PERMISSIONS[operation]
    if rule.public:
        return "ok"
    permitted = rule.api_keys if actor == "API_KEY" else actor in {r.value for r in rule.roles}
    if actor == "ANONYMOUS" or not permitted:
        return "denied"
    return "ok" if target is None or target in VISIBLE[actor] else "hidden"


def outcome(body: dict[str, Any], case: Case, world: World, target: str | None) -> str:
    if body.get("errors"):
        code = body["errors"][0]["extensions"]["code"]
        if code in {"FORBIDDEN", "UNAUTHENTICATED"}:
            return "denied"
        return "hidden" if code == "NOT_FOUND" else f"error {code}: {body['errors'][0]}"
    return "ok" if case.found(body["data"], world, target) else "hidden"


def test_every_query_and_mutation_has_a_matrix_case() -> None:
    operations = {
        op
        for op in root_operations(build_schema(Settings(app_env="test")))
        if not op.startswith("Subscription.")
    }
    assert operations == set(CASES), "add a Case for every new operation"


@pytest.mark.parametrize("operation", sorted(CASES))
async def test_matrix(operation: str, world: World) -> None:
    case = CASES[operation]
    mismatches = []
    for actor in ACTORS:
        for target in case.targets:
            variables = await case.variables(world, target)
            body = await gql(world.factory.client, case.query, variables, **world.auth(actor))
            got = outcome(body, case, world, target)
            want = expected(operation, actor, target)
            if got != want:
                mismatches.append(f"{actor} on {target}: expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)


NESTED = """
{
  shops { id machines { id shop { id machines { id } } inventory { machine { id } } } }
  inventory { machines { machine { id shop { id machines { id } } } } }
  transactions(first: 100) { edges { node { machineId shopId } } }
}
"""


@pytest.mark.parametrize("actor", ["ORG_ADMIN", "SHOP_MANAGER", "EMPLOYEE", "AUDITOR"])
async def test_nested_edges_never_reach_past_the_scope(actor: str, quiet_world: World) -> None:
    """Shop.machines, Machine.shop, Machine.inventory, InventoryReport and transactions:
    whatever path a query takes, only in-scope machines and shops appear."""
    world = quiet_world
    body = await gql(world.factory.client, NESTED, **world.auth(actor))
    assert "errors" not in body, body
    seen_machines: set[str] = set()
    seen_shops: set[str] = set()

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif key in {"machineId"}:
            seen_machines.add(node)
        elif key == "shopId":
            seen_shops.add(node)

    def collect(node: Any, parent: str | None = None) -> None:
        if isinstance(node, dict):
            if "id" in node and parent in {"machines", "machine"}:
                seen_machines.add(node["id"])
            if "id" in node and parent in {"shops", "shop"}:
                seen_shops.add(node["id"])
            for k, v in node.items():
                collect(v, k)
        elif isinstance(node, list):
            for item in node:
                collect(item, parent)

    collect(body["data"])
    walk(body["data"])
    by_id = {v: k for k, v in world.ids.items()}
    visible = VISIBLE[actor]
    assert {by_id.get(m, m) for m in seen_machines} == {
        t for t in ("M00", "M01", "M10", "M11") if t in visible
    }
    assert {by_id.get(s, s) for s in seen_shops} == {t for t in ("S0", "S1") if t in visible}
