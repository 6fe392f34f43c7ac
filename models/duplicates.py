"""Unique-index violations reported the same way by single and bulk writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pymongo.errors import BulkWriteError, DuplicateKeyError

DUPLICATE_KEY = 11000


@contextlib.contextmanager
def duplicates_raised_as_duplicate_key() -> Iterator[None]:
    """Raise a bulk write's unique-index violation as DuplicateKeyError, like a single write's.

    `insert_many` and `bulk_write` report write errors in one BulkWriteError (code 11000 in
    its `writeErrors`), never as DuplicateKeyError; callers that retry a lost unique-index race
    catch DuplicateKeyError only, whichever kind of write lost it."""
    try:
        yield
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        duplicate = next((e for e in errors if e.get("code") == DUPLICATE_KEY), None)
        if duplicate is None:
            raise
        raise DuplicateKeyError(
            duplicate.get("errmsg", "duplicate key"), DUPLICATE_KEY, exc.details
        ) from exc
