"""Partial updates: a field the caller did not give is UNCHANGED; None means "clear it"."""

from enum import Enum


class Unchanged(Enum):
    """An update field that was not given: the stored value stays."""

    UNCHANGED = "UNCHANGED"


UNCHANGED = Unchanged.UNCHANGED
