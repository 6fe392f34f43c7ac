"""The sharding plan: the shard key of every collection, or None for one that stays unsharded.

MongoDB refuses to shard a collection whose unique indexes do not start with the shard key,
and enforces a unique index across shards only when it does; `tests/test_mongo_sharding.py`
holds every declared unique index to this table, and docs/deploy.md ("Sharding") explains
each choice and lists the commands. The keys are ranged, not hashed: an organization's
documents stay in one range of chunks, so its queries go to the shards of that range only.
"""

from __future__ import annotations

ORG_MACHINE = ("org_id", "machine_id")
# Per-machine state whose `_id` is the machine id.
ORG_MACHINE_ID = ("org_id", "_id")

SHARD_KEYS: dict[str, tuple[str, ...] | None] = {
    # written by every ingest batch; the volume grows with transactions
    "transactions": ORG_MACHINE,
    "machine_inventory": ORG_MACHINE_ID,
    "ingest_batches": ORG_MACHINE,
    "summaries_hourly": ORG_MACHINE,
    "summaries_daily": ORG_MACHINE,
    "summaries_monthly": ORG_MACHINE,
    "summaries_demand": ORG_MACHINE,
    "audit_tree_pages": ORG_MACHINE,
    "audit_checkpoints": ORG_MACHINE,
    # the telemetry stream and its typed events
    "telemetry_log": ORG_MACHINE,
    "machine_events": ORG_MACHINE,
    # one document per machine, organization, user or setting: small, stays unsharded
    "organizations": None,
    "shops": None,
    "machines": None,
    "users": None,
    "api_keys": None,
    "sessions": None,
    "refresh_tokens": None,
    "security_events": None,
    "security_log_heads": None,
    "audit_logs": None,
    "audit_schedule": None,
    "machine_twins": None,
    "alert_instances": None,
    "incidents": None,
    "alert_rule_overrides": None,
    "silences": None,
    "planned_collections": None,
    "alert_forecasts": None,
    "alert_sweeps": None,
    "webhooks": None,
    "webhook_deliveries": None,
    "rate_buckets": None,
    "transaction_sessions": None,
}


def shard_key(collection: str) -> tuple[str, ...] | None:
    """The documented shard key of `collection` (None: unsharded); KeyError when the
    collection is missing from the plan."""
    return SHARD_KEYS[collection]


def starts_with_shard_key(collection: str, index_fields: list[str]) -> bool:
    """Whether a unique index on `index_fields` is allowed on `collection` once it is
    sharded: its fields start with the shard key (always true when unsharded)."""
    key = SHARD_KEYS[collection]
    return key is None or tuple(index_fields[: len(key)]) == key
