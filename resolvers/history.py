"""Transaction history as a cursor-paginated, newest-first list."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from auth.errors import PublicError
from auth.principal import Principal
from models.ledger_store import page_transactions
from resolvers.timestamps import optional_instant

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class TransactionFilter:
    shop_ids: list[ObjectId] | None = None
    machine_ids: list[ObjectId] | None = None
    types: list[str] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


@dataclass(frozen=True)
class TransactionPage:
    items: list[tuple[str, dict[str, Any]]]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None


def encode_cursor(doc: dict[str, Any]) -> str:
    at = doc["occurred_at"]
    millis = int(at.timestamp() * 1000)
    raw = json.dumps([millis, str(doc["_id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        millis, oid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromtimestamp(millis / 1000, UTC), ObjectId(oid)
    except Exception as exc:
        raise PublicError("invalid cursor", code="BAD_CURSOR") from exc


async def transaction_page(
    *, principal: Principal, filter: TransactionFilter, first: int, after: str | None
) -> TransactionPage:
    """Up to `first` (1..100) transactions in scope after the cursor, newest first."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise PublicError(f"first must be between 1 and {MAX_PAGE_SIZE}", code="BAD_PAGE_SIZE")
    scope = principal.scope.narrowed(shop_ids=filter.shop_ids, machine_ids=filter.machine_ids)
    docs = await page_transactions(
        scope=scope,
        types=filter.types,
        occurred_from=optional_instant("filter.from", filter.occurred_from),
        occurred_to=optional_instant("filter.to", filter.occurred_to),
        after=decode_cursor(after) if after else None,
        limit=first + 1,
    )
    items = [(encode_cursor(d), d) for d in docs[:first]]
    return TransactionPage(items=items, has_next_page=len(docs) > first)
