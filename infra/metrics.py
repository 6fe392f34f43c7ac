"""Business metrics (prometheus-client). Every label has a fixed, small set of values.

Under `cashcc serve`, PROMETHEUS_MULTIPROC_DIR is set and each worker writes its values to
files there; `/metrics` adds them up (graph/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

INGEST_TRANSACTIONS = Counter(
    "cashcc_ingest_transactions",
    "Transactions received by ingestTransactions, by result.",
    ["result"],  # accepted | duplicate | rejected
)
INGEST_BATCHES = Counter(
    "cashcc_ingest_batches",
    "ingestTransactions calls, by result.",
    ["result"],  # applied | replayed | refused
)
LIVE_SUBSCRIBERS = Gauge(
    "cashcc_live_subscribers",
    "Open live-view subscriptions.",
    multiprocess_mode="livesum",
)
LIVE_EVENTS_PUBLISHED = Counter(
    "cashcc_live_events_published", "Live-view envelopes published to the fan-out."
)
AUTH_FAILURES = Counter(
    "cashcc_auth_failures",
    "Refused credentials, by kind.",
    ["kind"],  # bearer | api_key | login | websocket | rate_limited (a valid key over its rate)
)
