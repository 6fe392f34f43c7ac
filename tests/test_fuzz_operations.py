"""Fuzz of every root Query and Mutation field, in-process: documents generated from the served
schema for three callers, and every argument with hostile values through variables. Every
answer must be free of 5xx, INTERNAL_SERVER_ERROR and errors without a code, and quick."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import Undefined
from hypothesis import given
from hypothesis import strategies as st

from auth.rbac import PERMISSIONS, is_route
from config import Settings
from tests.fuzz_schema import (
    Baseline,
    argument_variants,
    field_documents,
    replace_at,
    root_fields,
    served_schema,
    variable_document,
)
from tests.fuzz_support import (
    CALLER_NAMES,
    FuzzWorld,
    answer_problems,
    assert_clean,
    describe,
    fuzz_http,  # noqa: F401 (fixture `http`)
    fuzz_settings,
    fuzz_world,  # noqa: F401 (fixture `world`)
    graphql_body,
    post,
)

SCHEMA = served_schema(Settings(app_env="test"))
OPERATIONS = [(root, name) for root in ("Query", "Mutation") for name in root_fields(SCHEMA, root)]


def test_the_fuzz_covers_every_root_field_of_the_served_schema() -> None:
    fuzzed = {f"{root}.{name}" for root, name in OPERATIONS}
    subscriptions = {f"Subscription.{name}" for name in root_fields(SCHEMA, "Subscription")}
    # subscriptions: tests/test_fuzz_ws.py; download routes: tests/test_audit_api.py
    graphql = {op for op in PERMISSIONS if not is_route(op)}
    assert fuzzed | subscriptions == graphql


@pytest.mark.parametrize(("root", "name"), OPERATIONS, ids=[f"{r}.{n}" for r, n in OPERATIONS])
@fuzz_settings()
@given(data=st.data())
async def test_generated_documents_for_every_root_field_are_answered_cleanly(
    http: httpx.AsyncClient, world: FuzzWorld, root: str, name: str, data: Any
) -> None:
    """Each generated document (valid, or with one schema violation) is sent as each caller:
    anonymous, the tenant's ORG_ADMIN and the shop's API key."""
    document = data.draw(field_documents(SCHEMA, root, name, world), label="document")
    for caller in CALLER_NAMES:
        answer = await post(http, graphql_body(document), world.callers[caller].headers)
        assert_clean(f"as {caller}: {document}", answer)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


@pytest.mark.parametrize(("root", "name"), OPERATIONS, ids=[f"{r}.{n}" for r, n in OPERATIONS])
async def test_every_argument_of_every_root_field_survives_hostile_values(
    http: httpx.AsyncClient, world: FuzzWorld, root: str, name: str
) -> None:
    """Deterministic sweep: valid arguments of the tenant with one argument or input field at
    a time replaced (null, 5,000-digit numbers, lone surrogates, odd time zones, naive times,
    wrong JSON types...), sent as the caller the permission table lets in, so the value
    reaches the resolver. Lists every failing value, not only the first."""
    operation, field = f"{root}.{name}", root_fields(SCHEMA, root)[name]
    caller = world.caller_for(PERMISSIONS[operation])
    baseline = Baseline(world)
    valid = baseline.arguments(operation, field)
    document = variable_document(root.lower(), name, field, valid)
    first = await post(http, graphql_body(document, valid), caller.headers)
    failures = [f"valid arguments {_short(valid)}: {p}" for p in answer_problems(first)]
    for argument, path, value in argument_variants(field):
        arguments = baseline.arguments(operation, field)
        arguments[argument] = replace_at(
            baseline,
            operation,
            argument,
            field.args[argument].type,
            arguments.get(argument, Undefined),
            path,
            value,
        )
        document = variable_document(root.lower(), name, field, arguments)
        answer = await post(http, graphql_body(document, arguments), caller.headers)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        failures += [f"{argument}{where} = {_short(value)}: {p}" for p in answer_problems(answer)]
    assert not failures, f"{operation} as {caller.name}:\n{describe(failures)}"
