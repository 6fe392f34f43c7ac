"""How current what the owner sees is, per machine (pure): from the twin (telemetry) and the
machine's ledger state (transaction ingest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import quantiles
from typing import Any

from resolvers.health.settings import EffectiveHealthSettings

# A batch whose newest record is this late is a replay of a backlog, not live traffic.
BACKFILL_LAG_SECONDS = 300


@dataclass(frozen=True)
class SeqGaps:
    """Open gaps in the machine's seqs: `count` ranges (at least, when `truncated`), the
    oldest as `(from, to)` and since when it has been open."""

    count: int
    truncated: bool
    oldest: tuple[int, int] | None
    oldest_open_since: datetime | None


@dataclass(frozen=True)
class IngestLag:
    samples: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class Freshness:
    last_seen_at: datetime | None
    last_message_at: datetime | None
    last_heartbeat_at: datetime | None
    last_batch_at: datetime | None
    last_transaction_at: datetime | None
    last_transaction_seq: int | None
    open_gaps: SeqGaps
    ingest_lag: IngestLag
    clock_skew_seconds: float | None
    outbox_backlog: int | None
    outbox_oldest_age_seconds: int | None
    backfilling: bool


def _lag(samples: list[float]) -> IngestLag:
    if not samples:
        return IngestLag(0, None, None)
    if len(samples) == 1:
        return IngestLag(1, samples[0], samples[0])
    cuts = quantiles(samples, n=100, method="inclusive")
    return IngestLag(len(samples), round(cuts[49], 3), round(cuts[94], 3))


def _gaps(state: dict[str, Any] | None) -> SeqGaps:
    gaps = (state or {}).get("open_gaps") or []
    summarized = (state or {}).get("summarized_gaps", 0)
    if not gaps:
        return SeqGaps(summarized, summarized > 0, None, None)
    lo, hi, since = gaps[0]
    return SeqGaps(len(gaps) + summarized, summarized > 0, (lo, hi), since)


def heartbeat_skew_seconds(heartbeat: dict[str, Any]) -> float:
    """How far the device clock was behind ours at heartbeat section `heartbeat` (our
    receive time minus its observed time)."""
    return (heartbeat["received_at"] - heartbeat["observed_at"]).total_seconds()


def freshness_of(
    twin: dict[str, Any] | None,
    state: dict[str, Any] | None,
    health: EffectiveHealthSettings,
    now: datetime,
) -> Freshness:
    twin = twin or {}
    heartbeat = (twin.get("sections") or {}).get("heartbeat")
    agent = heartbeat["value"] if heartbeat else {}
    seen_seqs = (state or {}).get("seen_seqs") or []
    lags = (state or {}).get("recent_lags") or []
    last_batch_at = twin.get("last_batch_at")
    recent_batch = last_batch_at is not None and now - last_batch_at <= timedelta(
        seconds=health.offline_grace_seconds
    )
    backlog = agent.get("outbox_backlog")
    backfilling = bool(backlog) or (recent_batch and bool(lags) and lags[-1] > BACKFILL_LAG_SECONDS)
    skew = None
    if heartbeat and not backfilling:
        skew = round(heartbeat_skew_seconds(heartbeat), 3)
    return Freshness(
        last_seen_at=twin.get("last_seen_at"),
        last_message_at=twin.get("last_message_at"),
        last_heartbeat_at=heartbeat["received_at"] if heartbeat else None,
        last_batch_at=last_batch_at,
        last_transaction_at=(state or {}).get("last_occurred_at"),
        last_transaction_seq=seen_seqs[-1][1] if seen_seqs else None,
        open_gaps=_gaps(state),
        ingest_lag=_lag(lags),
        clock_skew_seconds=skew,
        outbox_backlog=backlog,
        outbox_oldest_age_seconds=agent.get("outbox_oldest_age_seconds"),
        backfilling=backfilling,
    )
