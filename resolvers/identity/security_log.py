"""Appending to, reading and verifying the hash-chained security audit log.

Hashing reuses `resolvers.audit.chain.chain_hash` (the same canonical JSON as the transaction
chain). An append reads the organization's head and inserts the next event in one
multi-document transaction; the head moves by compare-and-set, so concurrent appends from
several workers serialize instead of forking the chain. The chain is also the organization's
security Merkle log (resolvers/audit/logs.py): the head keeps its compact range and the append
stores the nodes it completes, in the same transaction.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from auth.principal import Principal
from config import Settings
from models.audit import LogKey
from models.audit_store import TreeMoved, append_tree_nodes
from models.db import get_database
from models.ledger import GENESIS_HASH
from models.organization import utcnow
from models.scope import Scope
from models.security_log import (
    GLOBAL_CHAIN,
    HeadMoved,
    SecurityEvent,
    append_event,
    chain_head,
    iter_events,
    list_events,
    read_head,
)
from resolvers.audit.canonical import chain_hash
from resolvers.audit.chain import ChainCheck, walk_chain
from resolvers.audit.log_check import check_log, merged
from resolvers.audit.logs import extend_log
from resolvers.errors import CommonErrorCode, ServiceError, not_found
from resolvers.pagination import Page, check_page_size, decode_cursor, encode_cursor

SECURITY_CHAINED_FIELDS = (
    "org_id",
    "position",
    "prev_hash",
    "action",
    "actor_kind",
    "actor_id",
    "target_kind",
    "target_id",
    "client_address",
    "details",
    "at",
)
MAX_APPEND_ATTEMPTS = 30


class _Identified(Protocol):
    id: Any


Stored = TypeVar("Stored", bound=_Identified)


class SecurityAction(StrEnum):
    LOGIN_SUCCEEDED = "LOGIN_SUCCEEDED"
    LOGIN_FAILED = "LOGIN_FAILED"
    REFRESH_REUSE_DETECTED = "REFRESH_REUSE_DETECTED"
    LOGOUT = "LOGOUT"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_ROTATED = "API_KEY_ROTATED"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    USER_CREATED = "USER_CREATED"
    USER_INVITE_ACCEPTED = "USER_INVITE_ACCEPTED"
    USER_ROLE_CHANGED = "USER_ROLE_CHANGED"
    USER_ACCESS_CHANGED = "USER_ACCESS_CHANGED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    AUDIT_WITNESSES_CHANGED = "AUDIT_WITNESSES_CHANGED"
    SHOP_UPDATED = "SHOP_UPDATED"
    MACHINE_UPDATED = "MACHINE_UPDATED"
    MACHINE_MOVED = "MACHINE_MOVED"
    MACHINE_DECOMMISSIONED = "MACHINE_DECOMMISSIONED"
    HEALTH_SETTINGS_CHANGED = "HEALTH_SETTINGS_CHANGED"
    ALERT_RULE_CHANGED = "ALERT_RULE_CHANGED"
    SILENCE_CREATED = "SILENCE_CREATED"
    SILENCE_EXPIRED = "SILENCE_EXPIRED"
    WEBHOOK_CREATED = "WEBHOOK_CREATED"
    WEBHOOK_UPDATED = "WEBHOOK_UPDATED"
    WEBHOOK_SECRET_ROTATED = "WEBHOOK_SECRET_ROTATED"
    WEBHOOK_DELETED = "WEBHOOK_DELETED"
    WEBHOOK_TESTED = "WEBHOOK_TESTED"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"
    WEBHOOK_ENABLED = "WEBHOOK_ENABLED"


@dataclass(frozen=True)
class Actor:
    kind: str | None
    id: str | None
    address: str | None = None

    @classmethod
    def of(cls, principal: Principal | None) -> Actor:
        if principal is None:
            return cls(None, None)
        return cls(principal.kind.value, str(principal.actor_id), principal.client_address)


async def record_event(
    *,
    org_id: ObjectId | None,
    action: SecurityAction,
    actor: Actor | None = None,
    target_kind: str | None = None,
    target_id: ObjectId | str | None = None,
    client_address: str | None = None,
    details: dict[str, str] | None = None,
) -> SecurityEvent:
    """Append one event to the organization's chain (or the global one when `org_id` is None)."""
    chain = org_id or GLOBAL_CHAIN
    actor = actor or Actor(None, None)
    base: dict[str, Any] = {
        "org_id": chain,
        "action": action.value,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "target_kind": target_kind,
        "target_id": None if target_id is None else str(target_id),
        "client_address": client_address or actor.address,
        "details": details or {},
        "at": utcnow(),  # hashed at millisecond precision, as BSON stores it
    }

    async def work(session: AsyncClientSession) -> SecurityEvent:
        head = await read_head(chain, session=session)
        position = head["position"] if head else 0
        record = {
            **base,
            "position": position + 1,
            "prev_hash": head["hash"] if head else GENESIS_HASH,
        }
        event = SecurityEvent(**record, hash=chain_hash(record, SECURITY_CHAINED_FIELDS))
        tree = extend_log(head.get("audit_compact") if head else [], position, [event.hash])
        await append_event(
            event,
            expected_position=position,
            audit_compact=tree.compact if tree else None,
            session=session,
        )
        if tree is not None:
            await append_tree_nodes(
                log=LogKey(chain, None), shop_id=None, nodes=tree.nodes, session=session
            )
        return event

    for attempt in range(MAX_APPEND_ATTEMPTS):
        try:
            return await get_database().in_transaction(work)
        except (HeadMoved, DuplicateKeyError, TreeMoved):
            # Exponential, jittered and capped: under load a transaction takes longer than
            # a fixed few milliseconds, and retrying that fast kept every writer colliding.
            await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))  # noqa: S311
    raise ServiceError.of(
        CommonErrorCode.CONFLICT, "security log is busy, try again", retryable=True, retry_after=1
    )


async def record_admin_action(
    principal: Principal,
    action: SecurityAction,
    *,
    target_kind: str,
    target_id: ObjectId | str,
    details: dict[str, str] | None = None,
) -> SecurityEvent:
    """An event done by the caller to something of their organization (a key, a user ...)."""
    return await record_event(
        org_id=principal.org_id,
        action=action,
        actor=Actor.of(principal),
        target_kind=target_kind,
        target_id=target_id,
        details=details,
    )


async def store_update(
    principal: Principal,
    action: SecurityAction,
    *,
    current: Stored,
    changes: dict[str, Any],
    write: Callable[..., Awaitable[Stored | None]],
    what: str,
    field: str,
    target_kind: str,
    details_of: Callable[[Stored], dict[str, str]] | None = None,
) -> Stored:
    """Store a change the caller made to something of their organization and record it;
    the record afterwards. No `changes`: `current`, nothing stored or recorded.
    `write(changes=...)` is the store's update, returning the record afterwards or None
    when it is no longer in scope (NOT_FOUND for `what` at `field`). The event targets
    `current.id` (a `target_kind`) and names the fields changed (`fields`: their stored
    names, sorted, comma-separated), beside what `details_of` reads from the stored record."""
    if not changes:
        return current
    updated = await write(changes=changes)
    if updated is None:
        raise not_found(what, field=field)
    details = details_of(updated) if details_of else {}
    await record_admin_action(
        principal,
        action,
        target_kind=target_kind,
        target_id=current.id,
        details={**details, "fields": ",".join(sorted(changes))},
    )
    return updated


async def record_user_action(
    *,
    org_id: ObjectId,
    user_id: ObjectId,
    action: SecurityAction,
    client_address: str | None = None,
) -> SecurityEvent:
    """An event a user did to their own account (logged in, logged out, accepted an invite)."""
    return await record_event(
        org_id=org_id,
        action=action,
        actor=Actor("USER", str(user_id)),
        target_kind="USER",
        target_id=user_id,
        client_address=client_address,
    )


def _cursor_of(doc: dict[str, Any]) -> str:
    return encode_cursor([doc["position"]])


def _parse_key(key: list[Any]) -> int:
    (position,) = key
    if not isinstance(position, int) or isinstance(position, bool) or not 0 < position < 2**62:
        raise ValueError("position")
    return position


async def security_event_page(*, principal: Principal, first: int, after: str | None) -> Page:
    """The caller's organization's events, newest first, after a previous page's cursor."""
    check_page_size(first)
    before = decode_cursor(after, _parse_key) if after is not None else None
    docs = await list_events(
        scope=Scope.organization(principal.org_id), before_position=before, limit=first + 1
    )
    return Page.of(docs, first=first, cursor_of=_cursor_of)


async def verify_security_log(*, principal: Principal, settings: Settings) -> ChainCheck:
    """Walk the organization's chain, check its log against the signed checkpoints, and name
    the first event that does not verify."""
    scope = Scope.organization(principal.org_id)
    head = await chain_head(scope=scope)
    size = head["position"] if head else 0
    events = [e async for e in iter_events(scope=scope) if e["position"] <= size]

    async def replay() -> AsyncIterator[dict[str, Any]]:
        for event in events:
            yield event

    check = await walk_chain(
        replay(),
        position_field="position",
        hashed_fields=SECURITY_CHAINED_FIELDS,
        noun="event",
        head_position=size,
        head_hash=head["hash"] if head else GENESIS_HASH,
    )
    if head is not None and head.get("audit_compact") is None:
        return check  # a chain from before the audit logs
    log = await check_log(
        scope=scope,
        log=LogKey(principal.org_id, None),
        records=events,
        position_field="position",
        hashed_fields=SECURITY_CHAINED_FIELDS,
        start=0,
        settings=settings,
    )
    return merged(check, log)
