"""The outcome of one ingest request, as returned to the client and stored for replays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resolvers.ledger.ingest.records import Rejection, RejectionCode

if TYPE_CHECKING:
    from resolvers.live.publish import CommittedBatch


@dataclass
class IngestResult:
    """`missing_seqs` are inclusive ranges the cloud has not seen (oldest first, bounded);
    `replayed` is True when the response came from the idempotency store; `committed` is set
    only on the request that committed new transactions."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    missing_seqs: list[tuple[int, int]] = field(default_factory=list)
    missing_seqs_truncated: bool = False
    chain_position: int | None = None
    replayed: bool = False
    # What this request committed, for the live view; never stored, so replays publish nothing.
    committed: CommittedBatch | None = field(default=None, repr=False, compare=False)

    def to_stored(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "seq": r.seq, "code": r.code.value, "message": r.message}
                for r in self.rejected
            ],
            "missing_seqs": [list(r) for r in self.missing_seqs],
            "missing_seqs_truncated": self.missing_seqs_truncated,
            "chain_position": self.chain_position,
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> IngestResult:
        return cls(
            accepted=data["accepted"],
            duplicates=data["duplicates"],
            rejected=[
                Rejection(
                    index=r["index"],
                    seq=r["seq"],
                    code=RejectionCode(r["code"]),
                    message=r["message"],
                )
                for r in data["rejected"]
            ],
            missing_seqs=[(lo, hi) for lo, hi in data["missing_seqs"]],
            missing_seqs_truncated=data["missing_seqs_truncated"],
            chain_position=data["chain_position"],
            replayed=True,
        )
