"""The public API calls of the health and alerts part of a run: short health settings for
the simulator's shops, alert rules tuned for a short run (and put back), the webhook the
receiver listens for, and the reads the end-of-run checks rely on (twins, alerts,
deliveries)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from simulator.api import CloudApi, raise_user_errors

UPDATE_SHOP_HEALTH = """
mutation($input: UpdateShopInput!) {
  updateShop(input: $input) { shop { id } userErrors { field code message } }
}
"""
ALERT_RULES = """
query { alertRules { customized settings { rule enabled severity holdSeconds
  keepFiringSeconds threshold } } }
"""
UPDATE_ALERT_RULE = """
mutation($input: UpdateAlertRuleInput!) {
  updateAlertRule(input: $input) { rule { rule } userErrors { field code message } }
}
"""
CREATE_WEBHOOK = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { id } secret userErrors { field code message } }
}
"""
DELETE_WEBHOOK = """
mutation($id: ID!) { deleteWebhook(id: $id) { deletedWebhookId userErrors { field code message } } }
"""
MACHINE_HEALTH = """
query($id: ID!) { machine(id: $id) { id health {
  connectivity
  status { status code seq }
  units { seq units { number purpose status statusCode pieces { kind denomination count } } }
  doors { door state unit seq }
  activeErrors { code category module }
  agent { seq agentVersion lastJournaledSeq outboxBacklog }
  suspectNotes { seq category2 category3 }
} } }
"""
ALERTS = """
query($machines: [ID!], $after: String) {
  alerts(filter: {machineIds: $machines}, first: 100, after: $after) {
    edges { node {
      id rule subject state firedAt resolvedAt occurrences machine { id }
      timeline { state notified }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
DELIVERIES = """
query($id: ID!, $after: String) {
  webhookDeliveries(webhookId: $id, first: 100, after: $after) {
    edges { node { id event incidentId transition status attempts lastError } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
WEBHOOK_EVENTS = ["FIRING", "ACKNOWLEDGED", "RESOLVED", "FLAPPING"]


async def set_shop_health(
    api: CloudApi, shop_id: str, *, heartbeat: int | None, grace: int | None
) -> None:
    """The shop's heartbeat interval and offline grace (None: inherit the organization's)."""
    health = {"heartbeatIntervalSeconds": heartbeat, "offlineGraceSeconds": grace}
    data = await api.call(UPDATE_SHOP_HEALTH, {"input": {"shopId": shop_id, "health": health}})
    raise_user_errors(data["updateShop"])


async def alert_rules(api: CloudApi) -> dict[str, dict[str, Any]]:
    """rule -> {"customized": bool, "settings": {...}} in force for the organization."""
    entries = (await api.call(ALERT_RULES))["alertRules"]
    return {e["settings"]["rule"]: e for e in entries}


async def update_alert_rule(api: CloudApi, rule: str, **fields: Any) -> None:
    """Set the given fields of `rule` (a None value restores the default)."""
    data = await api.call(UPDATE_ALERT_RULE, {"input": {"rule": rule, **fields}})
    raise_user_errors(data["updateAlertRule"])


async def restore_alert_rule(api: CloudApi, entry: dict[str, Any]) -> None:
    """Put a rule back as `alert_rules()` returned it before the run."""
    settings = entry["settings"]
    names = ("enabled", "severity", "holdSeconds", "keepFiringSeconds", "threshold")
    values = {n: settings[n] if entry["customized"] else None for n in names}
    await update_alert_rule(api, settings["rule"], **values)


async def create_webhook(api: CloudApi, *, url: str, shop_ids: list[str]) -> tuple[str, str]:
    """(webhook id, signing secret) of a webhook for every transition of these shops."""
    data = await api.call(
        CREATE_WEBHOOK, {"input": {"url": url, "events": WEBHOOK_EVENTS, "shopIds": shop_ids}}
    )
    payload = raise_user_errors(data["createWebhook"])
    return payload["webhook"]["id"], payload["secret"]


async def delete_webhook(api: CloudApi, webhook_id: str) -> None:
    raise_user_errors((await api.call(DELETE_WEBHOOK, {"id": webhook_id}))["deleteWebhook"])


async def machine_health(api: CloudApi, machine_id: str) -> dict[str, Any]:
    return (await api.call(MACHINE_HEALTH, {"id": machine_id}))["machine"]["health"]


async def _pages(api: CloudApi, query: str, field: str, variables: dict[str, Any]):
    after = None
    while True:
        page = (await api.call(query, {**variables, "after": after}))[field]
        for edge in page["edges"]:
            yield edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def alerts(api: CloudApi, machine_ids: list[str]) -> AsyncIterator[dict[str, Any]]:
    """Every incident of these machines, newest first."""
    return _pages(api, ALERTS, "alerts", {"machines": machine_ids})


def deliveries(api: CloudApi, webhook_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every delivery row of the webhook, as the cloud recorded it."""
    return _pages(api, DELIVERIES, "webhookDeliveries", {"id": webhook_id})
