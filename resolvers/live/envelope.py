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
    GAP = "GAP"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event. `shop`/`machine`/`seq` are None only for GAP envelopes."""

    id: str
    type: EventType
    org: str
    shop: str | None
    machine: str | None
    seq: int | None
    published_at: datetime
    payload: dict[str, Any]
    version: int = ENVELOPE_VERSION
    # Per-process memo shared by every local subscriber of this envelope (translated objects,
    # execution results), so the work per event does not grow with the subscriber count.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.version,
                "id": self.id,
                "type": self.type.value,
                "org": self.org,
                "shop": self.shop,
                "machine": self.machine,
                "seq": self.seq,
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
                id=str(data["id"]),
                type=EventType(data["type"]),
                org=str(data["org"]),
                shop=data["shop"],
                machine=data["machine"],
                seq=data["seq"],
                published_at=datetime.fromisoformat(data["at"]),
                payload=dict(data["payload"]),
                version=data["v"],
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed live envelope: {exc}") from exc


def new_envelope(
    event_type: EventType,
    *,
    org: str,
    shop: str | None,
    machine: str | None,
    seq: int | None,
    payload: dict[str, Any],
) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex,
        type=event_type,
        org=org,
        shop=shop,
        machine=machine,
        seq=seq,
        published_at=datetime.now(UTC),
        payload=payload,
    )


def gap_envelope(org: str, reason: str) -> Envelope:
    """Tells subscribers of `org` that events may have been lost; they should re-query."""
    return new_envelope(
        EventType.GAP, org=org, shop=None, machine=None, seq=None, payload={"reason": reason}
    )


def channel_for(org: str) -> str:
    """The fan-out channel of one organization (there is no global channel)."""
    return f"{CHANNEL_PREFIX}{org}"


def org_of_channel(channel: str) -> str | None:
    return channel[len(CHANNEL_PREFIX) :] if channel.startswith(CHANNEL_PREFIX) else None
