"""Alerts the system raises about itself (not about a machine).

Placeholder in the webhooks branch: the alerts engine replaces the body of `webhook_disabled`
so that it opens an organization-level alert. Until then the event is only logged (and the
webhook's disabling is in the security log, `WEBHOOK_DISABLED`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bson import ObjectId

log = logging.getLogger(__name__)


async def webhook_disabled(
    *, org_id: ObjectId, webhook_id: ObjectId, url: str, failing_since: datetime
) -> None:
    """A webhook of `org_id` was disabled after failing since `failing_since`; called once
    per disabling, by the worker that disabled it, after the disabling was stored."""
    log.warning(
        "webhook %s of organization %s disabled: failing since %s",
        webhook_id,
        org_id,
        failing_since.isoformat(),
    )
