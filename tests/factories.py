"""Builders of tenants, users, machines and keys, and a GraphQL helper, for the tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from auth.passwords import hash_password
from auth.principal import principal_for_user
from config import Settings
from models.identity import Role, User
from models.identity_store import create_user
from models.machine import Machine, MachineModel
from models.organization import Organization
from models.scope import Scope
from resolvers.fleet.machines import register_machine
from resolvers.fleet.organizations import create_organization
from resolvers.fleet.shops import add_shop
from resolvers.identity.api_keys import IssuedKey, issue_api_key
from resolvers.identity.sessions import start_session

PASSWORD = "correct-horse-battery"
# Records default to a fixed time per seq, so a resend is byte-for-byte the same record.
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

INGEST = """
mutation Ingest($input: IngestTransactionsInput!) {
  ingestTransactions(input: $input) {
    accepted duplicates replayed chainPosition missingSeqsTruncated
    rejected { index seq code message }
    missingSeqs { from to }
    userErrors { field code message retryable }
  }
}
"""

REPORT = """
mutation Report($input: ReportMachineTelemetryInput!) {
  reportMachineTelemetry(input: $input) {
    accepted duplicates stale
    rejected { index eventId code message }
    userErrors { field code message }
  }
}
"""


def message(
    kind: str, seq: int, *, at: datetime | None = None, event_id: str | None = None, **section: Any
) -> dict[str, Any]:
    """A TelemetryMessageInput: `section` is the kind's section (`heartbeat={...}`); the
    eventId defaults to one per kind and seq, so a resend is a duplicate."""
    return {
        "eventId": event_id or f"{kind.lower()}-{seq}",
        "seq": seq,
        "observedAt": (at or BASE_TIME + timedelta(seconds=seq)).isoformat(),
        "kind": kind,
        **section,
    }


def heartbeat(
    seq: int,
    *,
    at: datetime | None = None,
    backlog: int = 0,
    event_id: str | None = None,
    **extra: Any,
) -> dict:
    body = {"agentVersion": "test-1.0", "outboxBacklog": backlog, **extra}
    return message("HEARTBEAT", seq, at=at, event_id=event_id, heartbeat=body)


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation; returns the whole response body (data and errors)."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if api_key:
        headers["X-API-Key"] = api_key
    # Encoded here with ASCII escapes: httpx's own JSON encoding fails on an unpaired
    # surrogate, which hostile-input tests must be able to send.
    body = json.dumps({"query": query, "variables": variables or {}})
    headers["Content-Type"] = "application/json"
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def gql_data(
    client: httpx.AsyncClient, query: str, variables: dict | None = None, **auth: Any
) -> dict[str, Any]:
    body = await gql(client, query, variables, **auth)
    assert "errors" not in body, body["errors"]
    return body["data"]


def ingest_variables(
    machine_id: str, records: list[dict[str, Any]], *, idempotency_key: str | None = None
) -> dict[str, Any]:
    """The variables of one ingestTransactions call (INGEST's `$input`): the machine's
    records under `idempotency_key`, a fresh one unless given."""
    return {
        "input": {
            "machineId": machine_id,
            "idempotencyKey": idempotency_key or uuid.uuid4().hex,
            "transactions": records,
        }
    }


def tx(
    seq: int,
    type_: str = "DEPOSIT",
    lines: list[tuple[int, int]] | None = None,
    *,
    currency: str = "EUR",
    amount: int | None = None,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A TransactionInput as a local system would send it."""
    lines = [(1000, 2)] if lines is None else lines
    record = {
        "seq": seq,
        "type": type_,
        "occurredAt": (occurred_at or BASE_TIME + timedelta(seconds=seq)).isoformat(),
        "currency": currency,
        "lines": [{"denomination": d, "count": c} for d, c in lines],
        **extra,
    }
    if amount is not None:
        record["amount"] = amount
    return record


async def until_settled(send: Callable[[], Awaitable[dict]], *, attempts: int = 8) -> dict:
    """`send()`'s payload once none of its userErrors is retryable, retrying with backoff as
    a client does (at most `attempts` calls; the last payload is returned either way)."""
    for attempt in range(attempts):
        payload = await send()
        if not any(e["retryable"] for e in payload["userErrors"]):
            break
        await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
    return payload


@dataclass
class Tenant:
    """An organization built for a test or a benchmark. `api_key` is a key of the first shop;
    `machine_keys[i]` the key of the shop of `machines[i]` (one key per shop)."""

    org: Organization
    admin: User
    admin_token: str
    shops: list[Any] = field(default_factory=list)
    machines: list[Any] = field(default_factory=list)
    api_key: str = ""
    machine_keys: list[str] = field(default_factory=list)

    @property
    def machine_id(self) -> str:
        return str(self.machines[0].id)

    @property
    def machine_ids(self) -> list[str]:
        return [str(m.id) for m in self.machines]

    def api_key_of_shop(self, shop_index: int) -> str:
        shop_id = self.shops[shop_index].id
        return next(
            key
            for m, key in zip(self.machines, self.machine_keys, strict=True)
            if m.shop_id == shop_id
        )


@dataclass
class Factory:
    client: httpx.AsyncClient
    settings: Settings

    async def token_for(self, user: User, *, settings: Settings | None = None) -> str:
        """An access token of a new session of `user`, as a login would issue it."""
        issued = await start_session(user, settings=settings or self.settings)
        return issued.access_token

    async def token_for_ttl(self, user: User, *, seconds: int) -> str:
        """An access token that expires `seconds` from now (negative: already expired)."""
        short = self.settings.model_copy(update={"access_token_ttl_seconds": seconds})
        return await self.token_for(user, settings=short)

    async def tenant(
        self,
        *,
        shops: int = 1,
        machines_per_shop: int = 1,
        currency: str = "EUR",
        model: MachineModel = MachineModel.CI_10,
    ) -> Tenant:
        """An organization with an admin, shops, machines and a key per shop (needs only a
        connected database)."""
        suffix = uuid.uuid4().hex[:10]
        created = await create_organization(
            name=f"Org {suffix}",
            currency=currency,
            timezone="Europe/Berlin",
            admin_email=f"admin-{suffix}@example.com",
            admin_password=PASSWORD,
        )
        org, admin = created
        tenant = Tenant(org=org, admin=admin, admin_token=await self.token_for(admin))
        principal = principal_for_user(admin)
        for s in range(shops):
            shop = await add_shop(
                principal=principal, name=f"Shop {s}", code=f"S{s}", timezone=None, currency=None
            )
            tenant.shops.append(shop)
            key = await self.api_key(tenant, shop_index=s)
            tenant.api_key = tenant.api_key or key
            for _ in range(machines_per_shop):
                tenant.machines.append(await self.machine(tenant, shop_index=s, model=model))
                tenant.machine_keys.append(key)
        return tenant

    async def machine(
        self, tenant: Tenant, *, shop_index: int = 0, model: MachineModel = MachineModel.CI_10
    ) -> Machine:
        """A new machine in the tenant's shop, registered by its admin (not added to
        `tenant.machines`)."""
        return await register_machine(
            principal=principal_for_user(tenant.admin),
            shop_id=str(tenant.shops[shop_index].id),
            serial=f"SN-{uuid.uuid4().hex[:12]}",
            model=model,
            currency=None,
            name=None,
            first_seq=1,
        )

    async def issue_key(
        self,
        tenant: Tenant,
        *,
        shop_index: int = 0,
        machine_ids: list[str] | None = None,
        name: str = "local system",
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        """A new API key of the tenant's shop, issued by its admin (secret and record)."""
        issued = await issue_api_key(
            principal=principal_for_user(tenant.admin),
            name=name,
            shop_id=str(tenant.shops[shop_index].id),
            machine_ids=machine_ids,
            expires_at=expires_at,
            settings=self.settings,
        )
        return issued

    async def api_key(
        self, tenant: Tenant, *, shop_index: int = 0, machine_ids: list[str] | None = None
    ) -> str:
        issued = await self.issue_key(tenant, shop_index=shop_index, machine_ids=machine_ids)
        return issued.secret

    async def user(
        self,
        tenant: Tenant,
        role: Role,
        shop_indexes: list[int],
        *,
        machine_ids: list[Any] | None = None,
    ) -> tuple[User, str]:
        user = await create_user(
            scope=Scope.organization(tenant.org.id),
            user=User(
                org_id=tenant.org.id,
                email=f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.com",
                password_hash=hash_password(PASSWORD),
                role=role,
                shop_ids=[tenant.shops[i].id for i in shop_indexes],
                machine_ids=machine_ids,
            ),
        )
        return user, await self.token_for(user)

    async def ingest(
        self,
        tenant: Tenant,
        records: list[dict],
        *,
        idempotency_key: str | None = None,
        machine_id: str | None = None,
        api_key: str | None = None,
    ) -> dict:
        """Run ingestTransactions and return the payload (asserting no top-level errors)."""
        variables = ingest_variables(
            machine_id or tenant.machine_id, records, idempotency_key=idempotency_key
        )
        data = await gql_data(self.client, INGEST, variables, api_key=api_key or tenant.api_key)
        return data["ingestTransactions"]

    async def ingest_as_agent(
        self,
        tenant: Tenant,
        records: list[dict],
        *,
        machine_id: str | None = None,
        api_key: str | None = None,
        attempts: int = 8,
    ) -> dict:
        """ingestTransactions as the agent sends it: a retryable error (a busy or loaded
        database answers TIMEOUT or IN_PROGRESS) is retried with the same idempotency key, with
        backoff, so the payload returned is the batch's settled outcome."""
        key = uuid.uuid4().hex
        return await until_settled(
            lambda: self.ingest(
                tenant, records, idempotency_key=key, machine_id=machine_id, api_key=api_key
            ),
            attempts=attempts,
        )

    async def report(
        self,
        tenant: Tenant,
        messages: list[dict],
        *,
        machine_id: str | None = None,
        api_key: str | None = None,
    ) -> dict:
        """Run reportMachineTelemetry and return the payload (asserting no top-level errors)."""
        data = await gql_data(
            self.client,
            REPORT,
            {"input": {"machineId": machine_id or tenant.machine_id, "messages": messages}},
            api_key=api_key or tenant.api_key,
        )
        return data["reportMachineTelemetry"]

    async def heard_from_every_machine(self, tenant: Tenant) -> None:
        """Each of the tenant's machines sends heartbeat 1 with its shop's key, so the cloud
        has seen every one of them (connectivity LIVE)."""
        for machine_id, key in zip(tenant.machine_ids, tenant.machine_keys, strict=True):
            await self.report(tenant, [heartbeat(1)], machine_id=machine_id, api_key=key)
