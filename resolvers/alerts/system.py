"""Alerts about the service's own duties to an organization (not about a machine)."""

from __future__ import annotations

import logging
from datetime import datetime

from bson import ObjectId

from models.alert_store import InstanceChanged, incidents_by_ids, instances_by_keys, rule_overrides
from models.alerts import AlertRule
from models.organization import utcnow
from resolvers.alerts.conditions import Condition
from resolvers.alerts.lifecycle import Suppression, evaluate_key, new_instance
from resolvers.alerts.notify import commit_step, publish_steps
from resolvers.alerts.rules import effective_rules

log = logging.getLogger(__name__)


async def webhook_disabled(
    *, org_id: ObjectId, webhook_id: ObjectId, url: str, failing_since: datetime
) -> None:
    """Open a WEBHOOK_DISABLED incident for the organization (one per webhook; it stays open
    until someone resolves it, since no evaluation can see the webhook work again)."""
    key = f"webhook:{webhook_id}:{AlertRule.WEBHOOK_DISABLED.value}"
    rules = effective_rules(await rule_overrides(org_id))
    condition = Condition(
        f"webhook {url} disabled after failing since {failing_since.isoformat()}",
        {"webhook_id": str(webhook_id), "url": url, "failing_since": failing_since},
    )
    for _ in range(10):
        found = await instances_by_keys(org_id=org_id, keys=[key])
        instance = (
            found[0]
            if found
            else new_instance(
                org_id=org_id,
                shop_id=None,
                machine_id=None,
                rule=AlertRule.WEBHOOK_DISABLED,
                subject=str(webhook_id),
                key=key,
            )
        )
        incidents = await incidents_by_ids(
            [instance["incident_id"]] if instance["incident_id"] else []
        )
        now = utcnow()
        step = evaluate_key(
            instance,
            incidents.get(instance["incident_id"]),
            condition=condition,
            settings=rules[AlertRule.WEBHOOK_DISABLED],
            suppression=Suppression(),
            now=now,
        )
        if not step.changed:
            return
        try:
            await commit_step(step, expected_version=instance["version"], now=now)
        except InstanceChanged:
            continue
        await publish_steps([step])
        return
    log.error("alerts: could not record the disabled webhook %s of org %s", webhook_id, org_id)
