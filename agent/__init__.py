"""Reference client for a shop's local system: a durable outbox and an ingest sender.

`AgentClient(url, api_key, machine_id, outbox_path)` journals every transaction in a local
SQLite (WAL) outbox before it is sent and forgets it only after the cloud acknowledged it.
See docs/agent.md.
"""

from agent.client import AgentClient, AgentError, SendReport
from agent.outbox import Batch, Outbox, OutboxStatus, QuarantinedRecord
from agent.retry import RetryPolicy

__all__ = [
    "AgentClient",
    "AgentError",
    "Batch",
    "Outbox",
    "OutboxStatus",
    "QuarantinedRecord",
    "RetryPolicy",
    "SendReport",
]
