"""How the documents declare their indexes.

Every key is ascending, time keys included (why: `models.ledger.Transaction`). Names are
MongoDB's defaults (`org_id_1_key_1`) unless given; `models.schema` compares the declared
indexes with the deployed ones, so a declaration keeps the name it was deployed with.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel


def ascending(*fields: str, **options: Any) -> IndexModel:
    """An index on `fields` in that order, each ascending; `options` are `IndexModel`'s
    (`unique`, `sparse`, `name`, `partialFilterExpression`, ...)."""
    return IndexModel([(field, ASCENDING) for field in fields], **options)


def expiry(name: str | None = None) -> IndexModel:
    """The TTL index that removes a document once its `expires_at` has passed, named `name`
    (default: MongoDB's, `expires_at_1`)."""
    options = {} if name is None else {"name": name}
    return ascending("expires_at", **options, expireAfterSeconds=0)
