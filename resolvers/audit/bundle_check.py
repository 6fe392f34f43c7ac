"""`cashcc verify-bundle`: checks an export bundle offline, with nothing but the file and the
public keys (docs/audit.md, "How an auditor verifies a bundle", lists the same steps).

No database, no network: the bundle's lines are parsed, each machine's records and checkpoints
become a `resolvers.audit.segment.Segment`, and that one check names the first broken record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from resolvers.audit.canonical import chain_hash
from resolvers.audit.chain import CHAINED_FIELDS
from resolvers.audit.note import NoteError, Verifier, parse_verifier_key, strict_b64decode
from resolvers.audit.segment import Finding, LogRecord, Segment, verify_segment

BUNDLE_FORMAT = "cashcc-audit-bundle/1"


@dataclass(frozen=True)
class LogResult:
    machine_id: str
    origin: str
    records: int
    checkpoint_sizes: list[int]
    expired: dict[str, int] | None
    finding: Finding | None


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    logs: list[LogResult] = field(default_factory=list)
    keys_from_bundle: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and all(log.finding is None for log in self.logs)


class BundleError(ValueError):
    """The file is not a bundle this verifier can read (the message says where)."""


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise BundleError(f"{what} must be a list of base64 hashes")
    try:
        return [strict_b64decode(v, what) for v in values]
    except (NoteError, TypeError):
        raise BundleError(f"{what} holds a value that is not standard base64") from None


def _keys(texts: Sequence[str], what: str) -> list[Verifier]:
    try:
        return [parse_verifier_key(t.strip()) for t in texts]
    except (NoteError, AttributeError):
        raise BundleError(f"{what}: not a verifier key (<name>+<id>+<base64>)") from None


def _json(text: str, number: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.endswith("\n"):
            raise BundleError(f"the bundle is truncated: line {number} is incomplete") from None
        raise BundleError(f"line {number}: not JSON ({exc.msg})") from None


class _Log:
    """One machine's part of the bundle while it is read."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.machine_id = str(header["machineId"])
        self.origin = str(header["origin"])
        start = header["start"]
        self.start = int(start["size"])
        self.compact = _hashes(start["compact"], f"{self.machine_id}: start.compact")
        self.expired = header.get("expired")
        self.checkpoints = [str(c["note"]) for c in header["checkpoints"]]
        self.sizes = [int(c["size"]) for c in header["checkpoints"]]
        self.consistency = {
            (int(p["fromSize"]), int(p["toSize"])): _hashes(p["proof"], "a consistency proof")
            for p in header["consistency"]
        }
        self.records: list[LogRecord] = []
        self.inclusion: dict[int, list[bytes]] = {}
        self.foreign: list[Finding] = []

    def add(self, line: dict[str, Any]) -> None:
        transaction = line["transaction"]
        if not isinstance(transaction, dict):
            raise BundleError(f"{self.machine_id}: a record's transaction is not an object")
        position = transaction.get("chain_position")
        if isinstance(position, bool) or not isinstance(position, int):
            raise BundleError(f"{self.machine_id}: a record without an integer chain_position")
        if set(transaction) != set(CHAINED_FIELDS):
            self.foreign.append(Finding(position, "the record's fields are not the hashed ones"))
        if transaction.get("machine_id") != self.machine_id:
            self.foreign.append(Finding(position, "the record belongs to another machine"))
        self.records.append(
            LogRecord(
                position=position,
                hash=str(line["hash"]),
                prev_hash=str(transaction.get("prev_hash")),
                content_hash=chain_hash(transaction, CHAINED_FIELDS),
            )
        )
        self.inclusion[position] = _hashes(line["proof"], f"record {position}: proof")

    def result(self, log_keys: Sequence[Verifier], witnesses: Sequence[Verifier]) -> LogResult:
        segment = Segment(
            origin=self.origin,
            start=self.start,
            start_compact=self.compact,
            checkpoints=self.checkpoints,
            records=self.records,
            consistency=self.consistency,
            inclusion=self.inclusion,
        )
        check = verify_segment(segment, log_keys, witnesses)
        findings = [*self.foreign, *([check.finding] if check.finding else [])]
        first = min(findings, key=lambda f: f.position) if findings else None
        return LogResult(
            self.machine_id, self.origin, len(self.records), self.sizes, self.expired, first
        )


def check_bundle(
    lines: Iterable[str],
    *,
    log_keys: Sequence[str] | None = None,
    witness_keys: Sequence[str] | None = None,
) -> BundleReport:
    """Verify a bundle; keys given here are trusted, else the bundle's own are used (and the
    report says so: keys must be pinned outside the bundle to prove anything)."""
    report = BundleReport()
    current: _Log | None = None
    ended, number = False, 1
    try:
        it = iter(lines)
        first = next(it, None)
        if first is None:
            raise BundleError(f"the file is empty, not a {BUNDLE_FORMAT} bundle")
        header = _json(first, 1)
        if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"line 1: not a {BUNDLE_FORMAT} bundle")
        if list(header.get("hashedFields", [])) != list(CHAINED_FIELDS):
            raise BundleError("line 1: hashedFields are not the fields this format hashes")
        report.keys_from_bundle = log_keys is None
        trusted = _keys(header["logKeys"] if log_keys is None else log_keys, "log key")
        witnesses = _keys(
            header.get("witnessKeys", []) if witness_keys is None else witness_keys,
            "witness key",
        )
        for number, text in enumerate(it, start=2):
            if ended:
                raise BundleError(f"line {number}: data after the end line")
            line = _json(text, number)
            kind = line.get("type") if isinstance(line, dict) else None
            if kind in ("log", "end") and current is not None:
                report.logs.append(current.result(trusted, witnesses))
                current = None
            if kind == "log":
                current = _Log(line)
            elif kind == "record" and current is not None:
                current.add(line)
            elif kind == "end":
                ended = True
                if line.get("logs") != len(report.logs):
                    raise BundleError(f"line {number}: the end line counts other logs")
            else:
                raise BundleError(f"line {number}: unexpected {kind or 'content'}")
    except BundleError as exc:
        report.problems.append(str(exc))
    except UnicodeDecodeError:
        report.problems.append(f"the file is not UTF-8 text, not a {BUNDLE_FORMAT} bundle")
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"line {number}: malformed ({type(exc).__name__}: {exc})")
    if not ended and not report.problems:
        report.problems.append("the bundle is truncated: it has no end line")
    return report


def format_report(report: BundleReport) -> list[str]:
    """One line per machine (`OK` or the first broken record and why), then the problems."""
    out = []
    if report.keys_from_bundle:
        out.append(
            "WARNING: the log keys were taken from the bundle itself; pass the keys you "
            "obtained from the operator with --public-key, or this proves nothing"
        )
    for log in report.logs:
        sizes = f"checkpoints {log.checkpoint_sizes[0]}..{log.checkpoint_sizes[-1]}"
        expired = (
            f", records {log.expired['from']}-{log.expired['to']} expired before the export"
            if log.expired
            else ""
        )
        if log.finding is None:
            out.append(f"machine {log.machine_id}: OK ({log.records} records, {sizes}{expired})")
        else:
            out.append(
                f"machine {log.machine_id}: BROKEN at record {log.finding.position}: "
                f"{log.finding.reason}"
            )
    out += [f"bundle: {problem}" for problem in report.problems]
    return out
