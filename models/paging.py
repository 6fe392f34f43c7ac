"""Newest-first pages keyed by a time and `_id`: their sort, and what comes after a key.

A page's key is its last document's (time, `_id`); the next page is every document strictly
after that key in the same order, so documents sharing a time are neither repeated nor skipped.
The time field's index is ascending (docs/architecture.md): walked backwards, it serves the
newest-first sort just as fast.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING


def newest_first(field: str) -> list[tuple[str, int]]:
    """The sort of a page: `field` descending, ties by `_id` descending."""
    return [(field, DESCENDING), ("_id", DESCENDING)]


def after_key(field: str, key: tuple[datetime, ObjectId]) -> dict[str, Any]:
    """The filter of the documents strictly after `key` (time, `_id`) in `newest_first(field)`
    order."""
    at, oid = key
    return {"$or": [{field: {"$lt": at}}, {field: at, "_id": {"$lt": oid}}]}


def time_window(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    """The condition `start <= time < end` (an unset bound is open); empty when both are."""
    window: dict[str, datetime] = {}
    if start is not None:
        window["$gte"] = start
    if end is not None:
        window["$lt"] = end
    return window
