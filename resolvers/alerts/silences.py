"""Silences, planned collections and rule settings: what people set for the alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from models.alert_store import (
    end_silence,
    get_silence,
    list_silences,
    mark_twins_due,
    rule_overrides,
)
from models.alert_store import set_rule_override as store_rule_override
from models.alerts import AlertRule, PlannedCollection, Severity, Silence
from models.machine_store import get_machine, list_machines
from models.org_store import list_shops
from models.organization import utcnow
from models.scope import Scope
from resolvers.alerts.rules import RuleSettings, check_rule_update, effective_rules
from resolvers.errors import CommonErrorCode, UserError, not_found, raise_if_any
from resolvers.identity.security_log import SecurityAction, record_admin_action
from resolvers.ids import parse_object_id
from resolvers.timestamps import client_instant
from resolvers.updates import Unchanged
from resolvers.validation import check_name

MAX_SILENCE = timedelta(days=7)
MAX_COLLECTION = timedelta(hours=24)
MAX_REASON = 500


def _actor(principal: Principal) -> str:
    return f"{principal.kind.value}:{principal.actor_id}"


async def create_silence(
    *,
    principal: Principal,
    shop_ids: list[ObjectId],
    machine_ids: list[ObjectId],
    rules: list[AlertRule],
    reason: str,
    starts_at: datetime | None,
    ends_at: datetime,
) -> Silence:
    """Incidents matching every given matcher are recorded but do not notify until
    `ends_at` (at most 7 days ahead). A caller limited to some shops must name shops of
    theirs; every shop and machine named must be in the caller's scope."""
    now = utcnow()
    start = client_instant("input.startsAt", starts_at) if starts_at else now
    end = client_instant("input.endsAt", ends_at)
    scope = principal.scope
    problems: list[UserError | None] = [
        check_name("input.reason", reason, max_length=MAX_REASON),
        None
        if now < end <= now + MAX_SILENCE
        else UserError("input.endsAt", CommonErrorCode.INVALID, "must be within the next 7 days"),
        None
        if start < end
        else UserError("input.startsAt", CommonErrorCode.INVALID, "must be before endsAt"),
    ]
    if scope.shop_ids is not None and not shop_ids:
        problems.append(
            UserError("input.shopIds", CommonErrorCode.INVALID, "name the shops to silence")
        )
    known_shops = {s.id for s in await list_shops(scope=scope, shop_ids=shop_ids)}
    if set(shop_ids) - known_shops:
        problems.append(UserError("input.shopIds", CommonErrorCode.NOT_FOUND, "shop not found"))
    if machine_ids:
        visible = {m.id for m in await list_machines(scope=scope, machine_ids=machine_ids)}
        if set(machine_ids) - visible:
            problems.append(
                UserError("input.machineIds", CommonErrorCode.NOT_FOUND, "machine not found")
            )
    raise_if_any(problems)
    silence = Silence(
        org_id=principal.org_id,
        shop_ids=sorted(set(shop_ids)),
        machine_ids=sorted(set(machine_ids)),
        rules=sorted(set(rules)),
        reason=reason.strip(),
        created_by=_actor(principal),
        starts_at=start,
        ends_at=end,
    )
    await silence.insert()
    await record_admin_action(
        principal,
        SecurityAction.SILENCE_CREATED,
        target_kind="silence",
        target_id=silence.id,
        details={"ends_at": end.isoformat(), "reason": silence.reason},
    )
    return silence


async def expire_silence(*, principal: Principal, silence_id: str) -> Silence:
    """End a silence now; what it held back notifies at the next evaluation."""
    oid = parse_object_id(silence_id)
    found = await get_silence(scope=principal.scope, silence_id=oid) if oid else None
    silence = (
        await end_silence(scope=principal.scope, silence_id=found.id, now=utcnow())
        if found is not None and _may_touch(principal.scope, found)
        else None
    )
    if silence is None:
        raise not_found("active silence", field="id")
    await record_admin_action(
        principal, SecurityAction.SILENCE_EXPIRED, target_kind="silence", target_id=silence.id
    )
    return silence


def _may_touch(scope: Scope, silence: Silence) -> bool:
    return scope.shop_ids is None or (
        bool(silence.shop_ids) and set(silence.shop_ids) <= scope.shop_ids
    )


async def find_silences(*, principal: Principal, include_ended: bool) -> list[Silence]:
    found = await list_silences(scope=principal.scope, include_ended=include_ended, now=utcnow())
    return [s for s in found if _may_touch(principal.scope, s)]


async def schedule_collection(
    *, principal: Principal, machine_id: str, starts_at: datetime, ends_at: datetime
) -> PlannedCollection:
    """Door and unit-removal events of the machine are expected in [starts_at, ends_at)
    (at most 24 hours, not over yet)."""
    oid = parse_object_id(machine_id)
    machine = await get_machine(scope=principal.scope, machine_id=oid) if oid else None
    if machine is None:
        raise not_found("machine", field="input.machineId")
    start = client_instant("input.from", starts_at)
    end = client_instant("input.to", ends_at)
    now = utcnow()
    raise_if_any(
        None
        if start < end <= start + MAX_COLLECTION
        else UserError("input.to", CommonErrorCode.INVALID, "must be after from, at most 24 h"),
        None if end > now else UserError("input.to", CommonErrorCode.INVALID, "is in the past"),
    )
    collection = PlannedCollection(
        org_id=machine.org_id,
        shop_id=machine.shop_id,
        machine_id=machine.id,
        starts_at=start,
        ends_at=end,
        created_by=_actor(principal),
        created_at=now,
    )
    await collection.insert()
    await mark_twins_due(org_id=machine.org_id, machine_ids=[machine.id], at=now)
    return collection


async def alert_rules(*, principal: Principal) -> list[tuple[RuleSettings, bool]]:
    """Every rule's settings in force, and whether the organization changed it."""
    overrides = await rule_overrides(principal.org_id)
    changed = {o.rule for o in overrides}  # an all-default override is removed when stored
    return [(r, r.rule in changed) for r in effective_rules(overrides).values()]


async def update_alert_rule(
    *,
    principal: Principal,
    rule: AlertRule,
    changes: dict[str, Any | Unchanged],
) -> RuleSettings:
    """Set (None: back to the default) the given settings of a rule for the organization;
    every machine is evaluated again with them."""
    given = {k: v for k, v in changes.items() if not isinstance(v, Unchanged)}
    raise_if_any(
        check_rule_update(
            rule,
            hold=given.get("hold_seconds"),
            keep=given.get("keep_firing_seconds"),
            threshold=given.get("threshold"),
        )
    )
    stored = {k: (v.value if isinstance(v, Severity) else v) for k, v in given.items()}
    stored["updated_at"] = utcnow()
    await store_rule_override(scope=principal.scope, rule=rule, changes=stored)
    await record_admin_action(
        principal,
        SecurityAction.ALERT_RULE_CHANGED,
        target_kind="alert_rule",
        target_id=rule.value,
        details={k: str(v) for k, v in given.items()},
    )
    machines = await list_machines(scope=Scope.organization(principal.org_id))
    await mark_twins_due(org_id=principal.org_id, machine_ids=[m.id for m in machines], at=utcnow())
    rules = effective_rules(await rule_overrides(principal.org_id))
    return rules[rule]
