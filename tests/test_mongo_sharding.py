"""The sharding plan holds: every collection has a documented shard key (or is documented as
unsharded), and every unique index starts with its collection's shard key, in the code and in
the database, since MongoDB refuses to shard a collection whose unique indexes do not."""

from __future__ import annotations

import re
from pathlib import Path

from models.db import Database
from models.schema import COLLECTIONS, DOCUMENT_MODELS
from models.sharding import SHARD_KEYS, starts_with_shard_key

DEPLOY_DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
ROW = re.compile(r"^\| `(?P<collection>[a-z_]+)` \| (?P<key>`\{[^}]*\}`|unsharded) \|")


def documented_shard_keys() -> dict[str, tuple[str, ...] | None]:
    """The table of docs/deploy.md's sharding section: collection -> key fields (None:
    unsharded)."""
    text = DEPLOY_DOC.read_text()
    section = text[text.index("## 6. Sharding") :]
    section = section[: section.index("\n## ", 1)]
    keys: dict[str, tuple[str, ...] | None] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            key = match["key"]
            fields = re.findall(r"(\w+): 1", key)
            keys[match["collection"]] = None if key == "unsharded" else tuple(fields)
    return keys


def declared_unique_indexes() -> list[tuple[str, list[str]]]:
    found = []
    for model in DOCUMENT_MODELS:
        for index in getattr(model.Settings, "indexes", None) or ():
            if index.document.get("unique"):
                found.append((model.Settings.name, list(index.document["key"])))
    return found


def test_every_collection_has_a_documented_shard_key_or_is_documented_unsharded() -> None:
    assert set(SHARD_KEYS) == set(COLLECTIONS)
    assert documented_shard_keys() == SHARD_KEYS


def test_every_declared_unique_index_starts_with_its_collections_shard_key() -> None:
    unique = declared_unique_indexes()
    assert ("transactions", ["org_id", "machine_id", "seq"]) in unique
    wrong = [(c, fields) for c, fields in unique if not starts_with_shard_key(c, fields)]
    assert wrong == []


def test_every_sharded_collection_declares_an_index_starting_with_its_shard_key() -> None:
    declared: dict[str, list[list[str]]] = {}
    for model in DOCUMENT_MODELS:
        for index in getattr(model.Settings, "indexes", None) or ():
            declared.setdefault(model.Settings.name, []).append(list(index.document["key"]))
    for collection, key in SHARD_KEYS.items():
        if key is not None:
            assert any(tuple(f[: len(key)]) == key for f in declared[collection]), collection


def test_a_unique_index_without_the_shard_key_in_front_is_refused() -> None:
    assert not starts_with_shard_key("transactions", ["machine_id", "seq"])
    assert not starts_with_shard_key("summaries_daily", ["org_id", "shop_id", "machine_id"])
    assert starts_with_shard_key("users", ["org_id", "email"])  # unsharded


async def test_every_unique_index_in_the_migrated_database_starts_with_the_shard_key(
    database: Database,
) -> None:
    wrong = []
    for collection in COLLECTIONS:
        info = await database.db[collection].index_information()
        for name, index in info.items():
            fields = [field for field, _ in index["key"]]
            if index.get("unique") and not starts_with_shard_key(collection, fields):
                wrong.append((collection, name))
    assert wrong == []
