"""The wire format of live events: a versioned JSON envelope per event.

Every envelope names the organization, shop and machine it belongs to and carries a
per-machine `seq` (the machine's audit-chain position after the change), so a client can tell
that it missed something and re-query. `GAP` envelopes carry no machine: they tell every
subscriber of the organization that events may have been lost (for example while the fan-out
backend was unreachable).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

ENVELOPE_VERSION = 1
CHANNEL_PREFIX = "cashcc.live.org."


class EventType(StrEnum):
    INVENTORY_CHANGED = "INVENTORY_CHANGED"
    TRANSACTIONS_INGESTED = "TRANSACTIONS_INGESTED"
    MACHINE_EVENT = "MACHINE_EVENT"
    ALERT_CHANGED = "ALERT_CHANGED"
    GAP = "GAP"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event. `shop_id`/`machine_id`/`sequence` are None only for GAP envelopes.

    An envelope reads as its payload too (`env.currency` is `env.payload["currency"]`): the
    GraphQL event types read envelopes by field name, and payload keys are those names.
    """

    event_id: str
    type: EventType
    organization_id: str
    shop_id: str | None
    machine_id: str | None
    sequence: int | None
    published_at: datetime
    payload: dict[str, Any]
    version: int = ENVELOPE_VERSION
    # Per-process memo shared by every local subscriber of this envelope (execution results,
    # encoded frames), so the work per event does not grow with the subscriber count.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def __getattr__(self, name: str) -> Any:
        if name == "payload":  # not set yet (copying): never look into it
            raise AttributeError(name)
        try:
            return self.payload[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.version,
                "id": self.event_id,
                "type": self.type.value,
                "org": self.organization_id,
                "shop": self.shop_id,
                "machine": self.machine_id,
                "seq": self.sequence,
                "at": self.published_at.isoformat(),
                "payload": self.payload,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Envelope:
        """Parse an envelope; raises ValueError for anything that is not a v1 envelope."""
        try:
            data = json.loads(text)
            if data["v"] != ENVELOPE_VERSION:
                raise ValueError(f"unsupported envelope version {data['v']!r}")
            return cls(
                event_id=str(data["id"]),
                type=EventType(data["type"]),
                organization_id=str(data["org"]),
                shop_id=data["shop"],
                machine_id=data["machine"],
                sequence=data["seq"],
                published_at=datetime.fromisoformat(data["at"]),
                payload=dict(data["payload"]),
                version=data["v"],
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed live envelope: {exc}") from exc


def new_envelope(
    event_type: EventType,
    *,
    organization_id: str,
    shop_id: str | None,
    machine_id: str | None,
    sequence: int | None,
    payload: dict[str, Any],
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4().hex,
        type=event_type,
        organization_id=organization_id,
        shop_id=shop_id,
        machine_id=machine_id,
        sequence=sequence,
        published_at=datetime.now(UTC),
        payload=payload,
    )


def gap_envelope(org: str, reason: str) -> Envelope:
    """Tells subscribers of `org` that events may have been lost; they should re-query."""
    return new_envelope(
        EventType.GAP,
        organization_id=org,
        shop_id=None,
        machine_id=None,
        sequence=None,
        payload={"gap_reason": reason},
    )


def channel_for(org: str) -> str:
    """The fan-out channel of one organization (there is no global channel)."""
    return f"{CHANNEL_PREFIX}{org}"


def org_of_channel(channel: str) -> str | None:
    return channel[len(CHANNEL_PREFIX) :] if channel.startswith(CHANNEL_PREFIX) else None
