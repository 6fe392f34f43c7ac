"""Documents over a structural limit are refused before graphql-core's validation rules see
them, so no document, however it nests fragments, makes a worker do more than linear work."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query

import graph.framework
from tests.factories import Factory, gql


def nested_fragment_pairs(levels: int) -> str:
    """`fragment F<n> on Query { ...F<n-1> ...F<n-1> }`: 1 KB that expands to 2^levels fields."""
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels)]
    return f"{{ ...F{levels - 1} }}\n" + "\n".join(fragments)


async def too_complex(factory: Factory, document: str) -> str:
    """The message of the QUERY_TOO_COMPLEX error that refused `document`."""
    body = await gql(factory.client, document)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    return error["message"]


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Documents that reached graphql-core's (cached) validation rules."""
    seen: list[object] = []
    real = graph.framework._cached_validate

    def spy(schema: object, document: object, rules: object) -> object:
        seen.append(document)
        return real(schema, document, rules)

    monkeypatch.setattr(graph.framework, "_cached_validate", spy)
    return seen


async def test_nested_fragment_pairs_are_refused_before_any_validation_rule_runs(
    factory: Factory, validations: list[object]
) -> None:
    assert "'__typename' is selected" in await too_complex(factory, nested_fragment_pairs(22))
    assert validations == []


async def test_too_many_fragment_spreads_are_refused(factory: Factory) -> None:
    spreads = " ".join(["...S"] * 201)
    document = f"{{ shops {{ {spreads} }} }} fragment S on Shop {{ id }}"
    assert "201 fragment spreads" in await too_complex(factory, document)


async def test_a_field_repeated_past_the_limit_is_refused_naming_it(
    factory: Factory, validations: list[object]
) -> None:
    document = "{ " + " ".join(["shops { id name }"] * 21) + " }"
    assert "'shops' is selected 21 times" in await too_complex(factory, document)
    assert validations == []


async def test_too_many_fields_after_expansion_are_refused(factory: Factory) -> None:
    """Each operation is within the limits; together they select more fields than allowed."""
    shops = " ".join(["shops { id name code timezone currency createdAt }"] * 20)
    operations = " ".join(f"query Q{i} {{ ...T }}" for i in range(14))
    document = f"{operations} fragment T on Query {{ {shops} }}"
    assert "2100 fields" in await too_complex(factory, document)


async def test_aliases_are_counted_through_fragments(factory: Factory) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(16))
    query = f"{{ ...A ...B }} fragment A on Query {{ {aliases} }} fragment B on Query {{ ...A }}"
    assert "32 aliases" in await too_complex(factory, query)


async def test_a_fragment_cycle_is_refused_without_hanging(factory: Factory) -> None:
    body = await gql(
        factory.client, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_the_ide_introspection_query_stays_within_the_limits(factory: Factory) -> None:
    body = await gql(factory.client, get_introspection_query(descriptions=True))
    assert "errors" not in body, body.get("errors")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
