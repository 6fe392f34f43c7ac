"""Bounds an attacker with a key or an admin login might push against: piece counts, open seq
gaps, rate limits per operation, schema suggestions, cross-tenant e-mails, forwarded
addresses."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from config import Settings
from models.db import get_database
from models.ledger import IngestBatch
from models.ledger_store import find_inventory_state
from models.machine import MAX_SLOT_PIECES
from models.rate_limit import take_token
from models.scope import Scope
from resolvers.ledger.ingest.records import MAX_PIECES_PER_LINE
from tests.factories import INGEST, PASSWORD, Factory, gql, gql_data, ingest_variables, tx
from tests.identity_helpers import LOGIN, app_client, production_settings
from tests.serve_support import served

INVENTORY = "{ inventory { machines { denominations { denomination count } } totals { value } } }"


async def test_a_line_beyond_any_machine_is_rejected_alone(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await factory.ingest(
        tenant, [tx(1, lines=[(1000, MAX_PIECES_PER_LINE + 1)]), tx(2, lines=[(1000, 5)])]
    )
    assert result["accepted"] == 1
    assert [(r["seq"], r["code"]) for r in result["rejected"]] == [(1, "COUNT_OUT_OF_RANGE")]


async def test_a_slot_total_beyond_any_capacity_is_refused_and_inventory_stays_readable(
    factory: Factory,
) -> None:
    """The attack that broke the organization's inventory: batches of maximal deposits pushed
    a count past 2^31. Now the record that would cross the bound is refused by name, the
    others stay, and everyone can still read the inventory."""
    tenant = await factory.tenant()
    per_record = MAX_PIECES_PER_LINE
    records = [tx(seq, lines=[(1000, per_record)]) for seq in range(1, 13)]
    result = await factory.ingest(tenant, records)
    allowed = MAX_SLOT_PIECES // per_record
    assert result["accepted"] == allowed
    assert {r["code"] for r in result["rejected"]} == {"INVENTORY_OUT_OF_RANGE"}
    assert [r["seq"] for r in result["rejected"]] == list(range(allowed + 1, 13))
    assert "N1000 would hold" in result["rejected"][0]["message"]
    data = await gql_data(factory.client, INVENTORY, token=tenant.admin_token)
    counts = {
        d["denomination"]: d["count"] for d in data["inventory"]["machines"][0]["denominations"]
    }
    assert counts[1000] == allowed * per_record
    assert data["inventory"]["totals"] == [{"value": 1000 * allowed * per_record}]


async def test_open_seq_gaps_are_bounded_and_late_records_still_count_once(
    factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    limit = 50
    evens = list(range(2, 2 * (limit + 20) + 1, 2))
    bounded = settings.model_copy(update={"max_seq_ranges": limit})
    async with app_client(bounded) as http:
        for start in range(0, len(evens), 30):
            chunk = [tx(s) for s in evens[start : start + 30]]
            result = await ingest_over(http, tenant, chunk)
            assert result["accepted"] == len(chunk)
    state = await find_inventory_state(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id
    )
    assert state is not None
    assert len(state["seen_seqs"]) == limit
    assert state["seq_floor"] > 1
    assert state["summarized_gaps"] == 20
    assert result["missingSeqsTruncated"] is True
    assert result["missingSeqs"][0]["from"] >= state["seq_floor"]
    async with app_client(bounded) as http:
        # Below the floor: a record never seen is accepted, a stored one is a duplicate.
        late = await ingest_over(http, tenant, [tx(1), tx(2), tx(3)])
        assert (late["accepted"], late["duplicates"], late["rejected"]) == (2, 1, [])
        again = await ingest_over(http, tenant, [tx(1), tx(3)])
        assert (again["accepted"], again["duplicates"]) == (0, 2)


async def ingest_over(http: httpx.AsyncClient, tenant: object, records: list[dict]) -> dict:
    variables = ingest_variables(tenant.machine_id, records)  # type: ignore[attr-defined]
    data = await gql_data(http, INGEST, variables, api_key=tenant.api_key)  # type: ignore[attr-defined]
    return data["ingestTransactions"]


async def test_the_rate_limit_charges_every_operation_of_a_batched_aliased_request(
    factory: Factory, settings: Settings
) -> None:
    """10 batched requests x 30 aliased ingests once ran 300 ingests for one token."""
    tenant = await factory.tenant()
    tight = settings.model_copy(update={"api_key_rate_burst": 5, "api_key_rate_per_second": 1e-6})

    def aliases() -> str:
        return " ".join(
            f'a{i}: ingestTransactions(input: {{machineId: "{tenant.machine_id}", '
            f'idempotencyKey: "{uuid.uuid4().hex}", transactions: []}}) {{ accepted }}'
            for i in range(30)
        )

    batch = [{"query": f"mutation {{ {aliases()} }}"} for _ in range(10)]
    async with app_client(tight) as http:
        response = await http.post("/graphql", json=batch, headers={"X-API-Key": tenant.api_key})
    results = response.json()
    # Mutations run one after the other; the first one refused ends its request's data.
    assert all(r["errors"][0]["extensions"]["code"] == "RATE_LIMITED" for r in results)
    ran = await IngestBatch.find(IngestBatch.machine_id == tenant.machines[0].id).count()
    assert ran == 5


async def test_concurrent_first_uses_of_a_rate_bucket_let_exactly_its_capacity_through() -> None:
    """Ten first takes at once of a 5-token bucket once let 1 to 4 through: the upserts that
    lost the race to create the bucket were refused."""
    db = get_database().db
    for _ in range(5):
        bucket = f"test-first-use:{uuid.uuid4().hex}"
        results = await asyncio.gather(
            *[take_token(db, bucket, capacity=5, per_second=1e-6) for _ in range(10)]
        )
        assert sum(r.allowed for r in results) == 5
        assert all(r.retry_after > 0 for r in results if not r.allowed)


async def test_production_hides_every_kind_of_schema_suggestion(
    factory: Factory, settings: Settings
) -> None:
    production = production_settings(settings)
    probes = [
        "{ shops(idz: 1) { id } }",  # argument
        'mutation { registerMachine(input: {shopId: "x", serial: "s", model: CI50}) '
        "{ machine { id } } }",  # enum value
        'mutation { createShop(input: {name: "n", code: "c", shopIdz: "x"}) { shop { id } } }',
        "query($x: Shpo) { shops { id } }",  # type
        "{ shpos { id } }",  # field
    ]
    async with app_client(production) as http:
        for probe in probes:
            body = await gql(http, probe)
            assert "errors" in body, probe
            assert all("Did you mean" not in e["message"] for e in body["errors"]), body
    dev = await gql(factory.client, "{ shops(idz: 1) { id } }")
    assert "Did you mean 'ids'?" in dev["errors"][0]["message"]


CREATE_USER = """
mutation($email: String!) {
  createUser(input: {email: $email, password: "correct-horse-battery", role: ORG_ADMIN}) {
    user { id email } userErrors { field code message }
  }
}
"""


async def test_an_admin_learns_nothing_about_other_tenants_e_mails(factory: Factory) -> None:
    first, second = await factory.tenant(shops=0), await factory.tenant(shops=0)
    taken = first.admin.email
    created = await gql_data(
        factory.client, CREATE_USER, {"email": taken}, token=second.admin_token
    )
    assert created["createUser"]["userErrors"] == []
    assert created["createUser"]["user"]["email"] == taken
    # The same e-mail and password now open two accounts: the organization decides.
    async with app_client(factory.settings) as http:
        both = await gql_data(http, LOGIN, {"email": taken, "password": PASSWORD})
        assert [e["code"] for e in both["login"]["userErrors"]] == ["ORGANIZATION_REQUIRED"]
        chosen = await gql_data(
            http,
            "mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, "
            "organizationId: $o) { user { id } userErrors { code } } }",
            {"e": taken, "p": PASSWORD, "o": str(second.org.id)},
        )
    assert chosen["login"]["user"]["id"] == created["createUser"]["user"]["id"]
    # Inside one organization an e-mail is still unique.
    again = await gql_data(factory.client, CREATE_USER, {"email": taken}, token=second.admin_token)
    assert [e["code"] for e in again["createUser"]["userErrors"]] == ["ALREADY_EXISTS"]


async def test_forwarded_addresses_are_believed_only_from_configured_proxies(
    factory: Factory, settings: Settings
) -> None:
    """A fresh X-Forwarded-For per request once bought a fresh per-address login bucket."""
    tenant = await factory.tenant(shops=0)
    login = {
        "query": LOGIN,
        "variables": {"email": tenant.admin.email, "password": "wrong-password-123"},
    }

    async def logged_addresses(app_settings: Settings, peer: str) -> list[str | None]:
        from graph.app import create_app

        app = create_app(app_settings, manage_database=False)
        transport = httpx.ASGITransport(app=app, client=(peer, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.post("/graphql", json=login, headers={"X-Forwarded-For": "203.0.113.9"})
        events = await gql_data(
            factory.client,
            "{ securityEvents(first: 1) { edges { node { clientAddress } } } }",
            token=tenant.admin_token,
        )
        return [e["node"]["clientAddress"] for e in events["securityEvents"]["edges"]]

    assert await logged_addresses(settings, "127.0.0.1") == ["127.0.0.1"]
    behind_nginx = settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1"})
    assert await logged_addresses(behind_nginx, "127.0.0.1") == ["203.0.113.9"]
    assert await logged_addresses(behind_nginx, "198.51.100.7") == ["198.51.100.7"]


async def test_a_served_worker_ignores_forwarded_addresses_from_loopback_by_default(
    factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    """The reported bug through the real server: uvicorn's own default trusted
    X-Forwarded-For from loopback peers, so `cashcc serve` logged (and rate-limited) the
    address a client claimed."""
    tenant = await factory.tenant(shops=0)
    login = {
        "query": LOGIN,
        "variables": {"email": tenant.admin.email, "password": "wrong-password-123"},
    }
    assert settings.mongodb_uri
    with served(
        tmp_path, mongodb_uri=settings.mongodb_uri, mongodb_db=settings.mongodb_db, workers=1
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await http.post("/graphql", json=login, headers={"X-Forwarded-For": "203.0.113.9"})
    events = await gql_data(
        factory.client,
        "{ securityEvents(first: 1) { edges { node { action clientAddress } } } }",
        token=tenant.admin_token,
    )
    (event,) = [e["node"] for e in events["securityEvents"]["edges"]]
    assert event == {"action": "LOGIN_FAILED", "clientAddress": "127.0.0.1"}


async def test_numbers_beyond_32_bits_in_a_record_reject_only_that_record(
    factory: Factory,
) -> None:
    """Counts and face values are Long: a record with an absurd one is rejected on its own
    (by the record check), instead of failing the whole batch at type coercion."""
    tenant = await factory.tenant()
    body = await gql(
        factory.client,
        INGEST,
        ingest_variables(
            tenant.machine_id,
            [tx(1, lines=[(1000, 10**12)]), tx(2, lines=[(10**12, 1)]), tx(3)],
        ),
        api_key=tenant.api_key,
    )
    result = body["data"]["ingestTransactions"]
    assert result["accepted"] == 1
    assert [(r["seq"], r["code"]) for r in result["rejected"]] == [
        (1, "COUNT_OUT_OF_RANGE"),
        (2, "UNKNOWN_DENOMINATION"),
    ]
