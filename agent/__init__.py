"""Reference client for a shop's local system: a durable outbox and an ingest sender.

`AgentClient(url, api_key, machine_id, outbox_path)` journals every transaction in a local
SQLite (WAL) outbox before it is sent and forgets it only after the cloud acknowledged it;
device events and heartbeats go through the same outbox.
See docs/agent.md.
"""

from agent.client import AgentClient, AgentError, SendReport
from agent.outbox import Batch, Outbox, OutboxStatus, QuarantinedRecord
from agent.retry import RetryPolicy
from agent.telemetry import DeadLetter, TelemetryQueue

__all__ = [
    "AgentClient",
    "AgentError",
    "Batch",
    "DeadLetter",
    "Outbox",
    "OutboxStatus",
    "QuarantinedRecord",
    "RetryPolicy",
    "SendReport",
    "TelemetryQueue",
]
