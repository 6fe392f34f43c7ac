"""C2SP signed notes with Ed25519 keys, and C2SP tlog-cosignature/v1 timestamped cosignatures.

Byte-for-byte the formats of https://c2sp.org/signed-note (as implemented by Go's
golang.org/x/mod/sumdb/note) and https://c2sp.org/tlog-cosignature (as implemented by
transparency-dev's note package): key strings, key ids, note layout, signature lines, and the
rules for opening a note (unknown keys are ignored but reported; a bad signature by a known key
rejects the note; a note with no verified signature is rejected). docs/audit.md walks through
every byte.

Ed25519 comes from the `cryptography` package (OpenSSL), the maintained Python binding; the
formats around it are small enough that a dependency would add more than it saves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
"""Signature type of plain Ed25519 note signatures over the note text."""
ALG_COSIGNATURE_V1 = 0x04
"""Signature type of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature)."""
ALGORITHMS = {ALG_ED25519: "Ed25519", ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1"}

MAX_SIGNATURES = 100
"""Go's limit; the spec asks verifiers to accept at least 16."""
MAX_TIMESTAMP = 2**63 - 1
SIGNATURE_PREFIX = "\u2014 "
"""Em dash (U+2014) and a space: the start of every signature line."""

_ED25519_SIGNATURE_SIZE = 64
_TIMESTAMP_SIZE = 8
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
# Unicode White_Space, the set Go's unicode.IsSpace tests (str.isspace differs slightly).
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


class NoteError(ValueError):
    """A malformed note, key string or key name; the message says what is wrong."""


class InvalidSignatureError(NoteError):
    """A signature by a known key does not verify: the whole note is rejected."""


class UnverifiedNoteError(NoteError):
    """A well-formed note that no known key signed; it carries what was found."""

    def __init__(self, text: str, unverified: list[NoteSignature]) -> None:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in unverified) or "none"
        super().__init__(f"the note has no signature by a known key (found: {names})")
        self.text = text
        self.unverified = unverified


def strict_b64decode(text: str, what: str) -> bytes:
    """Decode standard, padded, canonical base64 (RFC 4648 section 4), or raise NoteError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical standard base64")
    return raw


def check_name(name: object) -> str:
    """Return `name` if it is a valid key name: non-empty UTF-8, no spaces, no '+'."""
    if not isinstance(name, str) or not name:
        raise NoteError("key name must be a non-empty string")
    if "+" in name:
        raise NoteError(f"key name {name!r} must not contain '+'")
    if any(ch in _WHITE_SPACE or ch < " " for ch in name):
        raise NoteError(f"key name {name!r} must not contain spaces or control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"key name {name!r} is not valid UTF-8") from None
    return name


def key_id(name: str, algorithm: int, public_key: bytes) -> int:
    """First 4 bytes, big-endian, of SHA-256(name || 0x0A || algorithm || public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_algorithm(algorithm: int) -> None:
    if algorithm not in ALGORITHMS:
        raise NoteError(f"unknown signature algorithm 0x{algorithm:02x}")


def _check_key(name: str, algorithm: int, key: object, what: str) -> None:
    """Raise NoteError unless the key's name and algorithm are valid and `key` (its
    public key or private seed, named `what`) is 32 bytes."""
    check_name(name)
    _check_algorithm(algorithm)
    if not isinstance(key, bytes) or len(key) != 32:
        raise NoteError(f"{what} of {name} must be 32 bytes")


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: two header lines, then the checkpoint body."""
    _check_timestamp(timestamp)
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def _check_timestamp(timestamp: object) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError("cosignature timestamp must be an integer number of Unix seconds")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0..2**63-1")
    return timestamp


@dataclass(frozen=True)
class Verifier:
    """A public key: its name, signature algorithm and 32-byte Ed25519 key."""

    name: str
    algorithm: int
    public_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key(self.name, self.algorithm, self.public_key, "public key")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.algorithm, self.public_key)

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether `signature` (the bytes after the key id) signs the note `text`."""
        if self.algorithm == ALG_COSIGNATURE_V1:
            if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
                return False
            timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message, signature = cosignature_message(text, timestamp), signature[_TIMESTAMP_SIZE:]
        else:
            message = text.encode()
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key: name, signature algorithm and the 32-byte Ed25519 seed (never printed)."""

    name: str
    algorithm: int
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key(self.name, self.algorithm, self.seed, "private key seed")

    def verifier(self) -> Verifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return Verifier(self.name, self.algorithm, public)

    @property
    def key_id(self) -> int:
        return self.verifier().key_id

    def sign(self, text: str, *, timestamp: int | None = None) -> bytes:
        """The signature bytes that follow the key id; cosigners need the Unix `timestamp`."""
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.algorithm == ALG_COSIGNATURE_V1:
            if timestamp is None:
                raise NoteError(f"cosigner {self.name} needs a timestamp to sign")
            message = cosignature_message(text, timestamp)
            return timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + private.sign(message)
        return private.sign(text.encode())


def generate_signer(name: str, *, algorithm: int = ALG_ED25519) -> Signer:
    """A new random key; `algorithm=ALG_COSIGNATURE_V1` makes a cosigner (witness) key."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return Signer(name, algorithm, seed)


def format_verifier_key(verifier: Verifier) -> str:
    """`<name>+<hex key id>+<base64(algorithm || public key)>`."""
    key = base64.b64encode(bytes([verifier.algorithm]) + verifier.public_key).decode()
    return f"{verifier.name}+{verifier.key_id:08x}+{key}"


def format_signer_key(signer: Signer) -> str:
    """`PRIVATE+KEY+<name>+<hex key id>+<base64(algorithm || seed)>`: keep it secret."""
    key = base64.b64encode(bytes([signer.algorithm]) + signer.seed).decode()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id:08x}+{key}"


def _split_key(name: str, rest: str, what: str) -> tuple[str, int, int, bytes]:
    hex_id, _, encoded = rest.partition("+")
    check_name(name)
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise NoteError(f"{what} key id must be 8 hexadecimal digits")
    raw = strict_b64decode(encoded, f"{what} key material")
    if len(raw) != 33:
        raise NoteError(f"{what} key material must be an algorithm byte and a 32-byte key")
    _check_algorithm(raw[0])
    return name, int(hex_id, 16), raw[0], raw[1:]


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse `<name>+<hex key id>+<base64(algorithm || public key)>`, checking the key id."""
    name, _, rest = vkey.partition("+")
    name, wanted_id, algorithm, public = _split_key(name, rest, "verifier")
    verifier = Verifier(name, algorithm, public)
    if verifier.key_id != wanted_id:
        raise NoteError(f"verifier key id {wanted_id:08x} does not match its name and key")
    return verifier


def parse_signer_key(skey: str) -> Signer:
    """Parse `PRIVATE+KEY+<name>+<hex key id>+<base64(algorithm || seed)>`."""
    parts = skey.split("+", 3)
    if parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("signer key must start with PRIVATE+KEY+")
    if len(parts) != 4:
        raise NoteError("signer key must be PRIVATE+KEY+<name>+<key id>+<key>")
    name, wanted_id, algorithm, seed = _split_key(parts[2], parts[3], "signer")
    signer = Signer(name, algorithm, seed)
    if signer.key_id != wanted_id:
        raise NoteError(f"signer key id {wanted_id:08x} does not match its name and key")
    return signer


class NoteSignature(NamedTuple):
    """One signature line: key name, key id, and the signature bytes after the key id.

    `timestamp` is set on verified cosignatures: the Unix time the cosigner attested.
    """

    name: str
    key_id: int
    signature: bytes
    timestamp: int | None = None

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


class ParsedNote(NamedTuple):
    text: str
    signatures: list[NoteSignature]


class OpenedNote(NamedTuple):
    text: str
    verified: list[NoteSignature]
    unverified: list[NoteSignature]


def _decode_note(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not valid UTF-8") from None
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("the note is not valid UTF-8") from None
    for ch in note:
        if ch < " " and ch != "\n":
            raise NoteError(f"the note contains the control character U+{ord(ch):04X}")
    return note


def check_text(text: str) -> str:
    """Return `text` if it can be a note text: valid UTF-8, no control characters but newline,
    ending in a newline."""
    text = _decode_note(text)
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    return text


def parse_note(note: str | bytes) -> ParsedNote:
    """Split a signed note into its text and signature lines, verifying nothing."""
    note = _decode_note(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("the note must end with signature lines, each ending in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} must start with an em dash and a space")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if " " in encoded:
            raise NoteError(f"signature line {number} has a space in its key name or signature")
        try:
            check_name(name)
        except NoteError as error:
            raise NoteError(f"signature line {number}: {error}") from None
        raw = strict_b64decode(encoded, f"signature line {number}")
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short for a key id and signature")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return ParsedNote(text, signatures)


def open_note(note_text: str | bytes, known_verifiers: Iterable[Verifier | str]) -> OpenedNote:
    """Parse a note and verify each signature by a known key, as Go's note.Open does.

    Known keys are `Verifier`s or verifier key strings.

    Signatures by unknown (name, key id) pairs are returned as unverified; a failing signature
    by a known key raises `InvalidSignatureError`; no verified signature at all raises
    `UnverifiedNoteError`; malformed notes raise `NoteError`.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for key in known_verifiers:
        verifier = parse_verifier_key(key) if isinstance(key, str) else key
        slot = (verifier.name, verifier.key_id)
        if known.setdefault(slot, verifier) != verifier:
            raise NoteError(f"two known keys share the name and key id {slot[0]}+{slot[1]:08x}")
    text, signatures = parse_note(note_text)
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for signature in signatures:
        slot = (signature.name, signature.key_id)
        verifier = known.get(slot)
        if verifier is None:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if slot in seen:
            continue
        seen.add(slot)
        if not verifier.verify(text, signature.signature):
            raise InvalidSignatureError(
                f"the signature by {signature.name}+{signature.key_id:08x} does not verify"
            )
        if verifier.algorithm == ALG_COSIGNATURE_V1:
            signature = signature._replace(timestamp=cosignature_timestamp(signature))
        verified.append(signature)
    if not verified:
        raise UnverifiedNoteError(text, unverified)
    return OpenedNote(text, verified, unverified)


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The Unix time a cosignature/v1 line carries (the 8 bytes after the key id)."""
    if len(signature.signature) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
        raise NoteError(f"the signature by {signature.name} is not a cosignature/v1")
    return int.from_bytes(signature.signature[:_TIMESTAMP_SIZE], "big")


def signature_line(text: str, signer: Signer, *, timestamp: int | None = None) -> str:
    """One `— <name> <base64(key id || signature)>` line signing the note `text`."""
    check_text(text)
    return NoteSignature(signer.name, signer.key_id, signer.sign(text, timestamp=timestamp)).line()


def sign_note(text: str, signers: Sequence[Signer], *, timestamp: int | None = None) -> str:
    """The signed note: `text`, a blank line, one signature line per signer in order.

    `timestamp` (Unix seconds) is required when a signer is a cosigner.
    """
    if not signers:
        raise NoteError("a note needs at least one signer")
    lines = [signature_line(text, signer, timestamp=timestamp) for signer in signers]
    return text + "\n" + "".join(lines)
