"""The exported SDL and the permission table stay in step with the code."""

from pathlib import Path

import pytest
import strawberry

from auth.rbac import PERMISSIONS, is_route
from config import Settings
from graph.audit.download import OPERATION as AUDIT_EXPORT
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
    fields = {op for op in PERMISSIONS if not is_route(op)}
    assert fields <= operations, "stale entries in PERMISSIONS"
    assert set(PERMISSIONS) - fields == {AUDIT_EXPORT}, "a Download.* entry without its route"


def test_schema_with_an_unlisted_field_refuses_to_build() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def secret(self) -> str:
            return "x"

    with pytest.raises(UnprotectedOperation, match=r"Query\.secret"):
        protect(strawberry.Schema(query=Query))
