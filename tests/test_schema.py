"""The exported SDL and the permission table stay in step with the code."""

from pathlib import Path

import pytest
import strawberry

from auth.rbac import PERMISSIONS
from config import Settings
from graph.schema import UnprotectedOperation, build_schema, export_sdl, protect, root_operations

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_sdl_matches_the_schema() -> None:
    """schema.graphql is regenerated from the code (`make schema`) whenever the schema changes."""
    assert SDL_PATH.read_text() == export_sdl(), "schema.graphql is stale: run `make schema`"


def test_every_root_field_has_a_permission_entry() -> None:
    schema = build_schema(Settings(app_env="test"))
    operations = set(root_operations(schema))
    assert operations, "no root operations found"
    assert operations <= set(PERMISSIONS)
    assert set(PERMISSIONS) <= operations, "stale entries in PERMISSIONS"


def test_schema_with_an_unlisted_field_refuses_to_build() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def secret(self) -> str:
            return "x"

    with pytest.raises(UnprotectedOperation, match=r"Query\.secret"):
        protect(strawberry.Schema(query=Query))
