"""The layers keep their direction: graph -> resolvers -> infra -> models/auth. Read from the
source files' imports, so a new module that crosses a layer fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.servers import REPO

PROJECT = {"graph", "resolvers", "infra", "models", "auth", "config", "cli", "agent", "simulator"}
# What each layer may import from the project (besides itself).
ALLOWED = {
    "models": set(),
    "auth": {"models", "config"},
    "infra": {"models", "auth", "config"},
    "resolvers": {"infra", "models", "auth", "config"},
    "graph": {"resolvers", "infra", "models", "auth", "config"},
}
# graph/ makes no database calls: none of these, even though it may use models' types.
DATABASE_MODULES = ("pymongo", "beanie", "motor", "models.db", "models.readiness")
MAX_MODULE_LINES = 400


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    crossing = []
    for path in modules(layer):
        for name in imports(path):
            top = name.split(".")[0]
            if top in PROJECT and top != layer and top not in ALLOWED[layer]:
                crossing.append(f"{path.relative_to(REPO)} imports {name}")
    assert crossing == []


def test_resolvers_import_no_strawberry() -> None:
    found = [
        str(path.relative_to(REPO))
        for path in modules("resolvers")
        if any(name.split(".")[0] == "strawberry" for name in imports(path))
    ]
    assert found == []


def test_graph_makes_no_database_calls() -> None:
    found = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in modules("graph")
        for name in imports(path)
        if name.startswith(DATABASE_MODULES) or name.endswith("_store")
    ]
    assert found == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = [
        f"{path.relative_to(REPO)}: {lines}"
        for package in (*ALLOWED, "cli", "agent", "simulator", "bench")
        for path in modules(package)
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


# Collections no transaction writes, where a multi-document write is safe (models/writes.py).
MULTI_WRITE_ALLOWED = {
    "models/cleanup.py",  # removing a deleted organization's or test's data
    "models/session_store.py",  # sessions and refresh tokens: never written in a transaction
}


def test_no_multi_document_write_outside_a_transaction_on_transactional_collections() -> None:
    """On the embedded server a non-transactional update_many or delete_many that meets a
    transaction's uncommitted write deadlocked the whole server (models/writes.py)."""
    found = []
    for path in modules("models") + modules("resolvers"):
        name = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text(), name)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("update_many", "delete_many")
                and not any(k.arg == "session" for k in node.keywords)
                and name not in MULTI_WRITE_ALLOWED
            ):
                found.append(f"{name}:{node.lineno} {node.func.attr}")
            if isinstance(node, ast.Name) and node.id in ("UpdateMany", "DeleteMany"):
                found.append(f"{name}:{node.lineno} {node.id}")
    assert found == []
