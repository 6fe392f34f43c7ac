"""Totals beyond 32 bits stay exact; the Long scalar is safe for JavaScript clients."""

from __future__ import annotations

import pytest

from graph.scalars import _parse_long, _serialize_long
from tests.factories import Factory, gql_data, tx


async def test_totals_above_int32_are_exact(factory: Factory) -> None:
    tenant = await factory.tenant()
    # 10 x 100,000 five-hundred-euro notes (the most a line and a slot may hold) =
    # 50,000,000,000 cents, far above 2^31.
    await factory.ingest(tenant, [tx(s, "DEPOSIT", [(50000, 100_000)]) for s in range(1, 11)])
    data = await gql_data(
        factory.client,
        """
        { inventory { totals { currency value pieces }
                      machines { totalValue denominations { denomination value } } } }
    """,
        token=tenant.admin_token,
    )
    expected = 10 * 100_000 * 50000
    assert data["inventory"]["totals"] == [
        {"currency": "EUR", "value": expected, "pieces": 1_000_000}
    ]
    assert data["inventory"]["machines"][0]["totalValue"] == expected
    history = await gql_data(
        factory.client,
        "{ transactions(first: 1) { edges { node { amount } } } }",
        token=tenant.admin_token,
    )
    assert history["transactions"]["edges"][0]["node"]["amount"] == 5_000_000_000


def test_long_serializes_beyond_2_pow_53_as_string() -> None:
    assert _serialize_long(2**53 - 1) == 2**53 - 1
    assert _serialize_long(2**53) == str(2**53)
    assert _serialize_long(-(2**60)) == str(-(2**60))


def test_long_parses_numbers_and_decimal_strings_only() -> None:
    assert _parse_long("9007199254740993") == 9007199254740993
    assert _parse_long(-5) == -5
    for bad in (True, 1.5, "12a", 2**63):
        with pytest.raises(ValueError, match="Long"):
            _parse_long(bad)
