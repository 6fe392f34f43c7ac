"""Relay-style pages with opaque cursors: the one way every list of the API pages.

A cursor is URL-safe base64 of a JSON list of the sort key of the last record of a page (for
example `[occurred_at millis, "<id>"]`); clients treat it as opaque. A page holds the records
of one request, newest first, with their cursors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from resolvers.errors import CommonErrorCode, ServiceError

MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 200


def check_page_size(first: int) -> None:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise ServiceError.of(
            CommonErrorCode.BAD_PAGE_SIZE, f"first must be between 1 and {MAX_PAGE_SIZE}"
        )


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str, parse: Callable[[list[Any]], Any]) -> Any:
    """The sort key in `cursor`, checked by `parse` (which raises on anything unexpected);
    BAD_CURSOR for anything that is not a cursor this API handed out."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(key, list):
            raise TypeError("not a list")
        return parse(key)
    except (ValueError, TypeError, UnicodeError, binascii.Error, OverflowError) as exc:
        raise ServiceError.of(CommonErrorCode.BAD_CURSOR, "invalid cursor", field="after") from exc


def time_id_cursor(at: datetime, oid: ObjectId) -> str:
    """The cursor of a record sorted by (time, id), newest first (millisecond precision)."""
    return encode_cursor([int(at.timestamp() * 1000), str(oid)])


def parse_time_id(key: list[Any]) -> tuple[datetime, ObjectId]:
    """The (time, id) of a `time_id_cursor` key; raises on anything else."""
    millis, oid = key
    if not isinstance(millis, int) or isinstance(millis, bool):
        raise TypeError("millis")
    return datetime.fromtimestamp(millis / 1000, UTC), ObjectId(oid)


@dataclass(frozen=True)
class Page:
    """Up to `first` records after a cursor, and whether more follow. The GraphQL connection
    types read `edges` and `page_info`."""

    items: list[tuple[str, Any]]
    has_next_page: bool

    @classmethod
    def of(cls, records: Sequence[Any], *, first: int, cursor_of: Callable[[Any], str]) -> Page:
        """A page from up to `first + 1` records (the extra one says whether more follow)."""
        kept = records[:first]
        return cls(items=[(cursor_of(r), r) for r in kept], has_next_page=len(records) > first)

    @property
    def edges(self) -> list[dict[str, Any]]:
        return [{"cursor": cursor, "node": record} for cursor, record in self.items]

    @property
    def page_info(self) -> dict[str, Any]:
        end = self.items[-1][0] if self.items else None
        return {"has_next_page": self.has_next_page, "end_cursor": end}
