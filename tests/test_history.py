"""Transaction history: newest-first cursor pages, filters, and page-size limits."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import BASE_TIME, Factory, gql, gql_data, tx

PAGE = """
query($f: TransactionFilterInput, $first: Int!, $after: String) {
  transactions(filter: $f, first: $first, after: $after) {
    edges { cursor node { seq type amount occurredAt machineId lines { kind denomination count }
                          chainPosition hash } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_pages_walk_every_record_once_newest_first(factory: Factory) -> None:
    tenant = await factory.tenant()
    for start in range(1, 251, 125):
        await factory.ingest(tenant, [tx(s) for s in range(start, start + 125)])
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        data = await gql_data(
            factory.client, PAGE, {"first": 100, "after": after}, token=tenant.admin_token
        )
        connection = data["transactions"]
        seen += [e["node"]["seq"] for e in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == list(range(250, 0, -1))


async def test_filters_by_type_and_time(factory: Factory) -> None:
    tenant = await factory.tenant()
    await factory.ingest(
        tenant, [tx(1, "DEPOSIT"), tx(2, "WITHDRAWAL"), tx(3, "DEPOSIT"), tx(4, "COLLECTION")]
    )
    deposits = await gql_data(
        factory.client, PAGE, {"f": {"types": ["DEPOSIT"]}, "first": 10}, token=tenant.admin_token
    )
    assert [e["node"]["seq"] for e in deposits["transactions"]["edges"]] == [3, 1]
    window = {
        "from": (BASE_TIME + timedelta(seconds=2)).isoformat(),
        "to": (BASE_TIME + timedelta(seconds=4)).isoformat(),
    }
    ranged = await gql_data(
        factory.client, PAGE, {"f": window, "first": 10}, token=tenant.admin_token
    )
    assert [e["node"]["seq"] for e in ranged["transactions"]["edges"]] == [3, 2]
    node = ranged["transactions"]["edges"][0]["node"]
    assert node["lines"] == [{"kind": "NOTE", "denomination": 1000, "count": 2}]
    assert node["amount"] == 2000
    assert len(node["hash"]) == 64


async def test_page_size_and_cursor_are_validated(factory: Factory) -> None:
    tenant = await factory.tenant()
    for first in (0, 101):
        body = await gql(factory.client, PAGE, {"first": first}, token=tenant.admin_token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_PAGE_SIZE"
    body = await gql(
        factory.client, PAGE, {"first": 5, "after": "not-a-cursor"}, token=tenant.admin_token
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_CURSOR"
