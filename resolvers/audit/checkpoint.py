"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed head of a Merkle log.

A checkpoint body is the origin line, the tree size in decimal, the root hash in base64, and
optional extension lines, each ending in a newline. Parsing is strict so that one body has one
meaning: no leading zeros or signs in the size, canonical padded base64 of exactly 32 bytes,
no empty lines. Signed as a note (`resolvers.audit.note`) by the log, then cosigned by
witnesses.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    NoteError,
    NoteSignature,
    Signer,
    Verifier,
    check_text,
    open_note,
    parse_note,
    signature_line,
    strict_b64decode,
)

MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint body or signed checkpoint that must not be trusted; the message says why."""


def _check_line(what: str, line: object) -> str:
    if not isinstance(line, str) or not line:
        raise CheckpointError(f"{what} must be a non-empty line")
    if any(ch < " " for ch in line):
        raise CheckpointError(f"{what} must not contain newlines or control characters")
    return line


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, tree size and RFC 6962 root hash, plus opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("tree size must be an integer")
        if not 0 <= self.size <= MAX_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0..2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise CheckpointError("root hash must be 32 bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extension lines must be a tuple of strings")
        for number, line in enumerate(self.extensions, start=1):
            _check_line(f"extension line {number}", line)


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint body: one newline-terminated line per field, extensions last."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root).decode("ascii"),
        *checkpoint.extensions,
    ]
    return "".join(f"{line}\n" for line in lines)


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body strictly, raising `CheckpointError` with the reason."""
    try:
        check_text(body)
    except NoteError as error:
        raise CheckpointError(f"checkpoint body: {error}") from None
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint needs an origin, a tree size and a root hash line")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin (line 1) must not be empty")
    if not _DECIMAL.fullmatch(size_line):
        raise CheckpointError(
            f"checkpoint tree size (line 2) {size_line!r} must be decimal digits "
            "without sign or leading zeros"
        )
    try:
        root = strict_b64decode(root_line, "checkpoint root hash (line 3)")
    except NoteError as error:
        raise CheckpointError(str(error)) from None
    if len(root) != 32:
        raise CheckpointError(f"checkpoint root hash (line 3) is {len(root)} bytes, not 32")
    for number, line in enumerate(extensions, start=4):
        if not line:
            raise CheckpointError(f"checkpoint extension line {number} must not be empty")
    return Checkpoint(origin, int(size_line), root, tuple(extensions))


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose log signature verified, with the cosignatures that verified too."""

    checkpoint: Checkpoint
    log_signature: NoteSignature
    cosignatures: list[NoteSignature]
    unverified: list[NoteSignature]


def open_checkpoint(
    note: str | bytes, *, origin: str, log_key: Verifier, witnesses: Iterable[Verifier] = ()
) -> OpenedCheckpoint:
    """Verify a signed checkpoint of the log `origin`: it must carry a valid signature by
    `log_key`; signatures by `witnesses` are verified and returned, unknown ones reported.

    Raises `NoteError` for a malformed or badly signed note, `CheckpointError` for a bad body,
    another origin, or a note not signed by the log key.
    """
    opened = open_note(note, [log_key, *witnesses])
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    log_slot = (log_key.name, log_key.key_id)
    by_log = [s for s in opened.verified if (s.name, s.key_id) == log_slot]
    if not by_log:
        raise CheckpointError(
            f"the checkpoint is not signed by the log key {log_key.name}+{log_key.key_id:08x}"
        )
    others = [s for s in opened.verified if (s.name, s.key_id) != log_slot]
    return OpenedCheckpoint(checkpoint, by_log[0], others, opened.unverified)


def cosign_checkpoint(note: str, cosigner: Signer, *, timestamp: int) -> str:
    """Append a cosignature/v1 line by `cosigner` at Unix `timestamp` to a signed checkpoint.

    A cosignature states that this is the largest consistent tree head the cosigner has seen:
    the caller must already have opened `note` with the log key and checked a consistency
    proof from the last checkpoint it cosigned.
    """
    if cosigner.algorithm != ALG_COSIGNATURE_V1:
        raise NoteError(f"{cosigner.name} is not a cosignature/v1 key")
    text = parse_note(note).text
    parse_checkpoint(text)
    return note + signature_line(text, cosigner, timestamp=timestamp)
