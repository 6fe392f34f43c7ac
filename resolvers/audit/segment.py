"""Checking a stretch of one log against its signed checkpoints; the first broken record.

The one check behind `cashcc verify-bundle` (offline) and `verifyMachineChain` /
`verifySecurityLog` (in the service), as docs/audit.md "How an auditor verifies" lists it.
Pure: it imports only the standard library and the note/checkpoint/proof code (which needs
only `cryptography`), never the database.

A segment is the records at positions `start + 1 ...` of a log, the compact range of the
`start` leaves before them, and signed checkpoints. Findings about one record (missing,
content, link, not in the tree) name that record; findings about a checkpoint (signature,
consistency, a root the records do not reproduce) name the first record that checkpoint
alone vouches for. The reported record is the first record-level finding, else the first
checkpoint-level one.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from resolvers.audit.checkpoint import CheckpointError, parse_checkpoint
from resolvers.audit.merkle import append_leaves, root_from_compact
from resolvers.audit.note import (
    InvalidSignatureError,
    NoteError,
    UnverifiedNoteError,
    Verifier,
    open_note,
    parse_note,
)
from resolvers.audit.verify import ProofError, check_consistency, check_inclusion, leaf_hash


@dataclass(frozen=True)
class LogRecord:
    """A record as the segment sees it: its position, stored hash and link, and the hash of
    its content recomputed by the caller."""

    position: int
    hash: str
    prev_hash: str
    content_hash: str


@dataclass
class Segment:
    origin: str
    start: int
    start_compact: Sequence[bytes]
    checkpoints: Sequence[str]
    records: Sequence[LogRecord]
    consistency: Mapping[tuple[int, int], Sequence[bytes]] = field(default_factory=dict)
    inclusion: Mapping[int, Sequence[bytes]] | None = None
    logged_leaves: Mapping[int, bytes] | None = None


@dataclass(frozen=True)
class Finding:
    position: int
    reason: str


@dataclass(frozen=True)
class SegmentCheck:
    finding: Finding | None
    checkpoints_checked: int
    checkpoint_size: int | None

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class _Signed:
    size: int
    root: bytes | None  # None: the checkpoint did not verify
    problem: str | None = None


def _open(
    note: str, origin: str, log_keys: Sequence[Verifier], witnesses: Sequence[Verifier]
) -> _Signed:
    try:
        claimed = parse_checkpoint(parse_note(note).text)
    except (NoteError, CheckpointError) as exc:
        return _Signed(-1, None, f"a checkpoint is malformed ({exc})")
    what = f"the checkpoint of size {claimed.size}"
    if claimed.origin != origin:
        return _Signed(claimed.size, None, f"{what} belongs to another log ({claimed.origin})")
    try:
        opened = open_note(note, [*log_keys, *witnesses])
    except UnverifiedNoteError as exc:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in exc.unverified) or "none"
        return _Signed(claimed.size, None, f"{what} is signed by an unknown key ({names})")
    except InvalidSignatureError:
        return _Signed(claimed.size, None, f"the signature of {what} is invalid")
    except NoteError as exc:
        return _Signed(claimed.size, None, f"{what} is malformed ({exc})")
    log_slots = {(k.name, k.key_id) for k in log_keys}
    if not any((s.name, s.key_id) in log_slots for s in opened.verified):
        return _Signed(claimed.size, None, f"{what} is not signed by a log key")
    return _Signed(claimed.size, claimed.root)


def verify_segment(
    segment: Segment, log_keys: Sequence[Verifier], witnesses: Sequence[Verifier] = ()
) -> SegmentCheck:
    """Check the segment (see the module docstring) with the trusted log and witness keys."""
    start = segment.start
    signed = [_open(note, segment.origin, log_keys, witnesses) for note in segment.checkpoints]
    valid = [s for s in signed if s.root is not None]
    window: list[Finding] = []

    def vouched_from(size: int) -> int:
        """The first (retained) record that only checkpoints of `size` and larger vouch for."""
        below = [s.size for s in signed if 0 <= s.size < size]
        return max(max(below, default=0) + 1, start + 1)

    largest = -1
    for cp in signed:
        if cp.problem is not None:
            window.append(Finding(vouched_from(cp.size), cp.problem))
        elif cp.size <= largest:
            window.append(Finding(vouched_from(cp.size), "checkpoint sizes do not increase"))
        largest = max(largest, cp.size)
    window += _consistency(segment, valid, vouched_from)
    records, contiguous = _record_findings(segment, signed[-1] if signed else None)
    if contiguous:
        window += _recompute(segment, [s for s in valid if s.size >= start], vouched_from)
    findings = records or window
    first = min(findings, key=lambda f: f.position) if findings else None
    return SegmentCheck(first, len(valid), valid[-1].size if valid else None)


def _consistency(
    segment: Segment, valid: list[_Signed], vouched_from: Callable[[int], int]
) -> list[Finding]:
    """Consecutive signed checkpoints must be consistent. A proof is required where the
    records cannot show it (the older tree ends before the records start)."""
    findings = []
    for older, newer in itertools.pairwise(valid):
        proof = segment.consistency.get((older.size, newer.size))
        try:
            if proof is None:
                if older.size >= segment.start:
                    continue
                raise ProofError("the proof is missing")
            check_consistency(older.size, newer.size, proof, older.root, newer.root)  # type: ignore[arg-type]
        except ProofError as exc:
            findings.append(
                Finding(
                    vouched_from(newer.size),
                    f"the tree of size {newer.size} is not consistent with the earlier "
                    f"checkpoint of size {older.size} ({exc})",
                )
            )
    return findings


def _record_findings(segment: Segment, closing: _Signed | None) -> tuple[list[Finding], bool]:
    """Positions, content, links and (when given) logged leaves and inclusion proofs; and
    whether the records follow each other without a gap or repeat."""
    findings: list[Finding] = []
    expected, last_hash, contiguous = segment.start + 1, None, True
    present = {rec.position for rec in segment.records}
    for rec in segment.records:
        if rec.position != expected:
            contiguous = False
            if rec.position > expected:
                where = "out of order" if expected in present else "missing"
                findings.append(Finding(expected, f"record {expected} is {where}"))
            else:
                findings.append(Finding(rec.position, "a record at this position appears again"))
            expected, last_hash = max(expected, rec.position + 1), rec.hash
            continue
        if not hmac.compare_digest(rec.content_hash, rec.hash):
            findings.append(Finding(rec.position, "record content does not match its hash"))
        if last_hash is not None and rec.prev_hash != last_hash:
            findings.append(Finding(rec.position, "link to the previous record does not match"))
        logged = (segment.logged_leaves or {}).get(rec.position)
        if logged is not None and not _leaf_is(logged, rec.hash):
            findings.append(
                Finding(rec.position, "the record's hash is not the leaf the log holds")
            )
        expected, last_hash = rec.position + 1, rec.hash
    if closing is not None and closing.size >= expected > segment.start:
        findings.append(
            Finding(expected, f"record {expected} is missing (checkpoint {closing.size} covers it)")
        )
    if closing is None or closing.root is None or segment.inclusion is None:
        return findings, contiguous
    for rec in segment.records:
        if rec.position > closing.size:
            continue
        try:
            proof = segment.inclusion.get(rec.position)
            if proof is None:
                raise ProofError("no inclusion proof")
            leaf = leaf_hash(bytes.fromhex(rec.hash))
            check_inclusion(leaf, rec.position - 1, closing.size, proof, closing.root)
        except (ProofError, ValueError) as exc:
            findings.append(
                Finding(
                    rec.position,
                    f"the record is not in the tree of the checkpoint of size {closing.size} "
                    f"({exc})",
                )
            )
    return findings, contiguous


def _leaf_is(logged: bytes, record_hash: str) -> bool:
    try:
        return hmac.compare_digest(logged, leaf_hash(bytes.fromhex(record_hash)))
    except ValueError:
        return False


def _recompute(
    segment: Segment, targets: list[_Signed], vouched_from: Callable[[int], int]
) -> list[Finding]:
    """Rebuild the tree from the start compact range and the records' own hashes, and compare
    it with every signed root at or after `start`."""
    findings: list[Finding] = []
    compact = tuple(segment.start_compact)
    size = segment.start
    by_size = {t.size: t for t in targets}

    def compare(at: int) -> None:
        target = by_size.get(at)
        if target is not None and not hmac.compare_digest(root_from_compact(compact), target.root):  # type: ignore[arg-type]
            findings.append(
                Finding(
                    vouched_from(at),
                    f"records {vouched_from(at)} to {at} do not match the signed checkpoint "
                    f"of size {at}",
                )
            )

    try:
        compare(size)
        for rec in segment.records:
            compact, _ = append_leaves(compact, size, [leaf_hash(bytes.fromhex(rec.hash))])
            size += 1
            compare(size)
    except ValueError as exc:
        findings.append(Finding(segment.start + 1, f"the records cannot be rebuilt ({exc})"))
    return findings
