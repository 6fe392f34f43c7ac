"""Transaction history as a cursor-paginated, newest-first list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from auth.principal import Principal
from models.ledger_store import page_transactions
from resolvers.pagination import Page, check_page_size, decode_cursor, parse_time_id, time_id_cursor
from resolvers.timestamps import optional_instant


@dataclass(frozen=True)
class TransactionFilter:
    shop_ids: list[ObjectId] | None = None
    machine_ids: list[ObjectId] | None = None
    types: list[str] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


def _cursor_of(doc: dict[str, Any]) -> str:
    return time_id_cursor(doc["occurred_at"], doc["_id"])


async def transaction_page(
    *, principal: Principal, filter: TransactionFilter, first: int, after: str | None
) -> Page:
    """Up to `first` (1..100) transactions in scope after the cursor, newest first; the
    records are the stored documents (models.ledger.TransactionDoc)."""
    check_page_size(first)
    scope = principal.scope.narrowed(shop_ids=filter.shop_ids, machine_ids=filter.machine_ids)
    docs = await page_transactions(
        scope=scope,
        types=filter.types,
        occurred_from=optional_instant("filter.from", filter.occurred_from),
        occurred_to=optional_instant("filter.to", filter.occurred_to),
        after=decode_cursor(after, parse_time_id) if after else None,
        limit=first + 1,
    )
    return Page.of(docs, first=first, cursor_of=_cursor_of)
