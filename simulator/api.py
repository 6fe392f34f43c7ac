"""The public GraphQL API as an administrator sees it: set-up of shops, machines and keys,
and the read side (transaction history, inventory) the end-of-run verification relies on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken expiresAt userErrors { field code message }
  }
}
"""
SHOPS = "query { shops { id code name timezone currency } }"
CREATE_SHOP = """
mutation CreateShop($input: CreateShopInput!) {
  createShop(input: $input) {
    shop { id code name timezone currency } userErrors { field code message }
  }
}
"""
REGISTER_MACHINE = """
mutation Register($input: RegisterMachineInput!) {
  registerMachine(input: $input) {
    machine { id serial currency firstSeq } userErrors { field code message }
  }
}
"""
CREATE_API_KEY = """
mutation Key($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret userErrors { field code message } }
}
"""
HISTORY = """
query History($machines: [ID!], $after: String) {
  transactions(filter: {machineIds: $machines}, first: 100, after: $after) {
    edges { node { machineId seq type currency amount lines { kind denomination count } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
INVENTORY = """
query Inventory($machines: [ID!]) {
  inventory(machineIds: $machines) {
    machines {
      currency totalValue chainPosition machine { id }
      denominations { kind denomination count }
    }
  }
}
"""
# Log in again this long before the access token expires.
TOKEN_MARGIN_SECONDS = 60


class ApiError(RuntimeError):
    """The API refused an administrative call (message names field and reason)."""


class CloudApi:
    """An administrator's session against `url` (the GraphQL endpoint)."""

    def __init__(self, url: str, email: str, password: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._email = email
        self._password = password
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token: str | None = None
        self._token_until = 0.0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, query: str, variables: dict[str, Any], token: str | None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self._http.post(
            self.url, json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        if body.get("errors"):
            raise ApiError("; ".join(e["message"] for e in body["errors"]))
        return body["data"]

    async def _auth(self) -> str:
        if self._token is None or time.monotonic() > self._token_until:
            data = await self._post(LOGIN, {"email": self._email, "password": self._password}, None)
            result = data["login"]
            raise_user_errors(result)
            self._token = result["accessToken"]
            # The TTL is at least 30 s; refresh well before it runs out.
            self._token_until = time.monotonic() + TOKEN_MARGIN_SECONDS
        assert self._token is not None
        return self._token

    async def call(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an operation as the administrator; raise ApiError on top-level errors."""
        return await self._post(query, variables or {}, await self._auth())

    async def shops(self) -> list[dict[str, Any]]:
        return (await self.call(SHOPS))["shops"]

    async def create_shop(self, *, name: str, code: str, timezone: str, currency: str) -> dict:
        data = await self.call(
            CREATE_SHOP,
            {"input": {"name": name, "code": code, "timezone": timezone, "currency": currency}},
        )
        return raise_user_errors(data["createShop"])["shop"]

    async def register_machine(self, *, shop_id: str, serial: str, model: str) -> dict:
        data = await self.call(
            REGISTER_MACHINE,
            {"input": {"shopId": shop_id, "serial": serial, "model": model, "firstSeq": 1}},
        )
        return raise_user_errors(data["registerMachine"])["machine"]

    async def create_api_key(self, *, shop_id: str, machine_ids: list[str], name: str) -> str:
        data = await self.call(
            CREATE_API_KEY,
            {"input": {"name": name, "shopId": shop_id, "machineIds": machine_ids}},
        )
        return raise_user_errors(data["createApiKey"])["secret"]

    async def transactions(self, machine_ids: list[str]) -> AsyncIterator[dict[str, Any]]:
        """Every stored transaction of the machines, through the paginated connection."""
        after = None
        while True:
            page = (await self.call(HISTORY, {"machines": machine_ids, "after": after}))[
                "transactions"
            ]
            for edge in page["edges"]:
                yield edge["node"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    async def inventory(self, machine_ids: list[str]) -> list[dict[str, Any]]:
        return (await self.call(INVENTORY, {"machines": machine_ids}))["inventory"]["machines"]


def raise_user_errors(payload: dict[str, Any]) -> dict[str, Any]:
    errors = payload.get("userErrors") or []
    if errors:
        raise ApiError("; ".join(f"{e['field']}: {e['code']} {e['message']}" for e in errors))
    return payload
