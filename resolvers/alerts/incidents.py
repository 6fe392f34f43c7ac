"""Reading incidents, and the people's transitions: acknowledge, resolve.

A person's transition goes through the same compare-and-set as the evaluator's (the key's
instance `version`), in one transaction with the incident and its notifications, so a click
and an evaluation at the same moment cannot overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from models.alert_store import (
    InstanceChanged,
    find_incident,
    instances_by_keys,
    list_incidents,
    mark_twins_due,
)
from models.alerts import AlertRule, IncidentState, Severity
from models.organization import utcnow
from resolvers.alerts.errors import AlertErrorCode
from resolvers.alerts.lifecycle import Step, record_transition
from resolvers.alerts.notify import commit_step, publish_steps
from resolvers.errors import CommonErrorCode, ServiceError, not_found
from resolvers.ids import parse_object_id
from resolvers.pagination import Page, check_page_size, decode_cursor, parse_time_id, time_id_cursor
from resolvers.timestamps import optional_instant

MAX_COMMENT = 1000
S = IncidentState


@dataclass(frozen=True)
class AlertFilter:
    states: list[IncidentState] | None = None
    severities: list[Severity] | None = None
    rules: list[AlertRule] | None = None
    shop_ids: list[ObjectId] | None = None
    machine_ids: list[ObjectId] | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


async def alert_page(
    *, principal: Principal, filter: AlertFilter, first: int, after: str | None
) -> Page:
    """Incidents in scope, newest first (records: stored incident documents)."""
    check_page_size(first)
    scope = principal.scope.narrowed(shop_ids=filter.shop_ids, machine_ids=filter.machine_ids)
    docs = await list_incidents(
        scope=scope,
        states=[s.value for s in filter.states or []],
        severities=[s.value for s in filter.severities or []],
        rules=[r.value for r in filter.rules or []],
        opened_from=optional_instant("filter.from", filter.opened_from),
        opened_to=optional_instant("filter.to", filter.opened_to),
        after=decode_cursor(after, parse_time_id) if after else None,
        limit=first + 1,
    )
    return Page.of(docs, first=first, cursor_of=lambda d: time_id_cursor(d["opened_at"], d["_id"]))


async def find_alert(*, principal: Principal, incident_id: str) -> dict[str, Any] | None:
    oid = parse_object_id(incident_id)
    return await find_incident(scope=principal.scope, incident_id=oid) if oid else None


@dataclass
class ManualTransition:
    incident: dict[str, Any]
    reopens: bool = False


def _comment(comment: str | None) -> str | None:
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ServiceError.of(
            CommonErrorCode.INVALID, f"at most {MAX_COMMENT} characters", field="comment"
        )
    return comment


async def _transition(
    principal: Principal, incident_id: str, comment: str | None, target: IncidentState
) -> ManualTransition:
    comment = _comment(comment)
    for _ in range(10):
        incident = await find_alert(principal=principal, incident_id=incident_id)
        if incident is None:
            raise not_found("alert", field="id")
        state = S(incident["state"])
        if state is S.RESOLVED or (target is S.ACKNOWLEDGED and state is not S.FIRING):
            raise ServiceError.of(
                AlertErrorCode.INVALID_TRANSITION,
                f"a {state.value} alert cannot be {target.value.lower()}",
                field="id",
            )
        (instance,) = await instances_by_keys(org_id=incident["org_id"], keys=[incident["key"]])
        if instance["incident_id"] != incident["_id"]:
            continue  # the evaluator just moved it on: read again
        step = Step(
            {**instance},
            {**incident, "timeline": list(incident["timeline"])},
            prior_transitions=incident["transitions"],
        )
        now = utcnow()
        by = {"kind": principal.kind.value, "id": str(principal.actor_id), "comment": comment}
        notify = target.value if step.incident and step.incident["notified_firing"] else None
        record_transition(
            step, target, now, note=f"{target.value.lower()} by a person", notify=notify, by=by
        )
        assert step.incident is not None
        if target is S.ACKNOWLEDGED:
            step.incident["acknowledged_at"] = now
        else:
            step.incident.update(resolved_at=now, manually_resolved=True)
            step.instance.update(incident_id=None, next_check_at=None)
        try:
            await commit_step(step, expected_version=instance["version"], now=now)
        except InstanceChanged:
            continue
        await publish_steps([step])
        reopens = target is S.RESOLVED and instance["active"]
        if reopens and instance["machine_id"] is not None:
            await mark_twins_due(
                org_id=incident["org_id"], machine_ids=[instance["machine_id"]], at=now
            )
        return ManualTransition(step.incident, reopens)
    raise ServiceError.of(
        CommonErrorCode.CONFLICT, "the alert is changing; try again", field="id", retryable=True
    )


async def acknowledge_alert(
    *, principal: Principal, incident_id: str, comment: str | None
) -> ManualTransition:
    """FIRING -> ACKNOWLEDGED; it resolves by itself when its condition clears."""
    return await _transition(principal, incident_id, comment, S.ACKNOWLEDGED)


async def resolve_alert(
    *, principal: Principal, incident_id: str, comment: str | None
) -> ManualTransition:
    """Close an incident by hand. If its condition still holds, the next evaluation opens a
    new incident (`reopens`)."""
    return await _transition(principal, incident_id, comment, S.RESOLVED)
