"""Parsing of client-supplied ids."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId


def parse_object_id(value: str) -> ObjectId | None:
    """The ObjectId in `value`, or None when it is not a valid id."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def parse_object_ids(values: list[str] | None) -> list[ObjectId] | None:
    """Valid ids of `values` (invalid ones cannot match anything and are dropped)."""
    if values is None:
        return None
    return [oid for oid in (parse_object_id(v) for v in values) if oid is not None]
