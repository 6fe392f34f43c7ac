"""The database schema as a deploy step: collections, indexes and the retention TTL.

`migrate_schema` (`cashcc migrate`) creates every collection and index the code declares,
drops the indexes earlier versions declared, and sets the retention TTL; it is idempotent and
needs a user that may run `collMod` (dbAdmin): the standard readWrite role may create
indexes but not change a TTL. Workers never change the schema: `schema_problems` tells them
(and `/readyz`) what is behind, and they refuse to start until the migration ran.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from models.alerts import (
    AlertForecast,
    AlertInstance,
    AlertRuleOverride,
    AlertSweep,
    Incident,
    PlannedCollection,
    Silence,
)
from models.audit import AuditCheckpoint, AuditLogHead, AuditSlot, AuditTreePage
from models.health import UNSETTLED, MachineEventRecord, MachineTwin, TelemetryRecord
from models.identity import ApiKey, RefreshToken, Session, User
from models.indexes import expiry
from models.inflight import COLLECTION as TRANSACTION_SESSIONS
from models.ledger import IngestBatch, MachineInventory, Transaction
from models.machine import Machine
from models.organization import Organization, Shop
from models.rate_limit import COLLECTION as RATE_BUCKETS
from models.security_log import HEADS, SecurityEvent
from models.summary import SUMMARY_DOCUMENTS
from models.webhooks import Webhook, WebhookDelivery
from models.writes import update_each, update_matching

log = logging.getLogger(__name__)

DOCUMENT_MODELS = [
    Organization,
    Shop,
    Machine,
    User,
    ApiKey,
    Transaction,
    MachineInventory,
    IngestBatch,
    RefreshToken,
    Session,
    SecurityEvent,
    *SUMMARY_DOCUMENTS.values(),
    AuditTreePage,
    AuditCheckpoint,
    AuditLogHead,
    AuditSlot,
    TelemetryRecord,
    MachineTwin,
    MachineEventRecord,
    AlertInstance,
    Incident,
    AlertRuleOverride,
    Silence,
    PlannedCollection,
    AlertForecast,
    AlertSweep,
    Webhook,
    WebhookDelivery,
]
# Every collection the service uses: the documents' and three written as raw documents only.
COLLECTIONS = [
    *(model.Settings.name for model in DOCUMENT_MODELS),
    HEADS,
    RATE_BUCKETS,
    TRANSACTION_SESSIONS,
]
RETENTION_INDEX_NAME = "retention_ttl"
RATE_BUCKETS_TTL = expiry()

_OLD_SUMMARY_KEY = "org_id_1_shop_id_1_machine_id_1_currency_1_bucket_1"
# Indexes earlier versions declared that would now refuse valid data or sharding.
LEGACY_INDEXES = {
    # e-mails were globally unique, which told one tenant's admin that an address exists in
    # another tenant; they are unique per organization now
    User.Settings.name: ["email_1"],
    # unique keys that did not start with the shard key (models/sharding.py): MongoDB would
    # refuse to shard the collection
    Transaction.Settings.name: ["machine_id_1_seq_1", "machine_id_1_chain_position_1"],
    **{model.Settings.name: [_OLD_SUMMARY_KEY] for model in SUMMARY_DOCUMENTS.values()},
}

IndexKey = tuple[tuple[str, int], ...]


class SchemaBehind(RuntimeError):
    """The database lacks collections or indexes this version needs, or holds a retention TTL
    other than the setting's: run `cashcc migrate`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the database schema is behind this version ("
            + "; ".join(problems)
            + "): run `cashcc migrate` (as a user with the dbAdmin role) before starting workers"
        )


def declared_indexes() -> dict[str, list[IndexModel]]:
    """Collection name -> the indexes the code declares (the retention TTL apart)."""
    declared: dict[str, list[IndexModel]] = {name: [] for name in COLLECTIONS}
    for model in DOCUMENT_MODELS:
        declared[model.Settings.name].extend(getattr(model.Settings, "indexes", None) or ())
    declared[RATE_BUCKETS].append(RATE_BUCKETS_TTL)
    return declared


def _shape(index: dict) -> tuple[IndexKey, bool]:
    key = index["key"]
    pairs = key.items() if isinstance(key, dict) else key
    return tuple((name, int(direction)) for name, direction in pairs), bool(index.get("unique"))


async def migrate_schema(db: AsyncDatabase, *, retention_days: int) -> list[str]:
    """Bring `db` to this version's schema; returns what was changed (empty: nothing to do).

    Creates missing collections first (a transaction that writes to several shards cannot
    create one), drops legacy indexes, builds missing indexes and sets the retention TTL."""
    changes: list[str] = []
    existing = set(await db.list_collection_names())
    for name in COLLECTIONS:
        if name not in existing:
            await db.create_collection(name)
            changes.append(f"created collection {name}")
    for collection, names in LEGACY_INDEXES.items():
        present = await db[collection].index_information()
        for name in names:
            if name in present:
                await db[collection].drop_index(name)
                changes.append(f"dropped legacy index {collection}.{name}")
    for collection, indexes in declared_indexes().items():
        before = set(await db[collection].index_information())
        if indexes:
            await db[collection].create_indexes(indexes)
        created = set(await db[collection].index_information()) - before
        changes.extend(f"created index {collection}.{name}" for name in sorted(created))
    change = await ensure_retention_ttl(db, retention_days=retention_days)
    if change:
        changes.append(change)
    unset = await unset_null_deadlines(db)
    if unset:
        changes.append(f"removed {unset} null twin deadlines")
    marked = await mark_unsettled_shops(db)
    if marked:
        changes.append(f"marked the shop of {marked} late or offline twins")
    for change in changes:
        log.info("migrate: %s", change)
    return changes


async def unset_null_deadlines(db: AsyncDatabase) -> int:
    """Earlier versions stored a twin's absent deadlines as null, which the evaluators' due
    queries scan on the embedded server (MachineTwin.DEADLINES); removes them, one twin at a
    time (models/writes.py), and returns how many it removed. Idempotent."""
    twins = db[MachineTwin.Settings.name]
    changed = 0
    for field in MachineTwin.DEADLINES:
        changed += await update_matching(twins, {field: {"$type": "null"}}, {"$unset": {field: ""}})
    return changed


async def mark_unsettled_shops(db: AsyncDatabase) -> int:
    """Twins stored before `late_or_offline_shop_id` existed get it from their connectivity
    (models/health.py `unsettled_shop_of`), one twin at a time; returns how many changed.
    Idempotent."""
    twins = db[MachineTwin.Settings.name]
    unmarked = {"connectivity": {"$in": list(UNSETTLED)}, "late_or_offline_shop_id": None}
    by_shop: dict = defaultdict(list)
    async for twin in twins.find(unmarked, {"shop_id": 1}):
        by_shop[twin["shop_id"]].append(twin["_id"])
    changed = 0
    for shop_id, ids in by_shop.items():
        condition = {**unmarked, "shop_id": shop_id}
        change = {"$set": {"late_or_offline_shop_id": shop_id}}
        changed += await update_each(twins, ids, condition, change)
    return changed


async def ensure_retention_ttl(db: AsyncDatabase, *, retention_days: int) -> str | None:
    """Raw transactions expire `retention_days` after the server received them; returns the
    change made, if any.

    The clock is `received_at`, not `occurred_at`: a batch replayed after a long outage is
    kept for the full period from its arrival, never deleted on arrival for being "old".
    Changing the setting adjusts the live index with `collMod` instead of rebuilding it.
    """
    seconds = retention_days * 86_400
    collection = db[Transaction.Settings.name]
    current = (await collection.index_information()).get(RETENTION_INDEX_NAME)
    if current is None:
        await collection.create_index(
            "received_at", name=RETENTION_INDEX_NAME, expireAfterSeconds=seconds
        )
        return f"created retention TTL of {retention_days} days"
    if current.get("expireAfterSeconds") != seconds:
        await db.command(
            {
                "collMod": Transaction.Settings.name,
                "index": {"name": RETENTION_INDEX_NAME, "expireAfterSeconds": seconds},
            }
        )
        return f"retention TTL changed to {retention_days} days"
    return None


async def schema_problems(db: AsyncDatabase, *, retention_days: int | None) -> list[str]:
    """What `migrate_schema` would change, one line each (empty: up to date). With
    `retention_days` None the retention TTL must exist but may have any period."""
    problems: list[str] = []
    existing = set(await db.list_collection_names())
    for collection, indexes in declared_indexes().items():
        if collection not in existing:
            problems.append(f"collection {collection} missing")
            continue
        info = await db[collection].index_information()
        present = {_shape(index) for index in info.values()}
        for index in indexes:
            shape = _shape(index.document)
            if shape not in present:
                fields = ",".join(name for name, _ in shape[0])
                problems.append(f"index ({fields}) missing on {collection}")
        for name in LEGACY_INDEXES.get(collection, ()):
            if name in info:
                problems.append(f"legacy index {name} still on {collection}")
        if collection == Transaction.Settings.name:
            ttl = info.get(RETENTION_INDEX_NAME)
            if ttl is None:
                problems.append(f"retention TTL index missing on {collection}")
            elif retention_days is not None and ttl.get("expireAfterSeconds") != (
                retention_days * 86_400
            ):
                days = ttl.get("expireAfterSeconds", 0) / 86_400
                problems.append(
                    f"retention TTL is {days:g} days, RETENTION_DAYS is {retention_days}"
                )
    return problems
