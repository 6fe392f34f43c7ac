"""Signed notes and cosignatures: Go sumdb/note and C2SP vectors, key strings, opening rules."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    InvalidSignatureError,
    NoteError,
    NoteSignature,
    Signer,
    UnverifiedNoteError,
    check_name,
    cosignature_message,
    cosignature_timestamp,
    format_signer_key,
    format_verifier_key,
    generate_signer,
    key_id,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signature_line,
)
from tests.tlog_vectors import GROUPS

GO = GROUPS["go_sumdb_note"]
C2SP = GROUPS["c2sp_signed_note"]


def test_go_signer_key_parses_to_its_verifier_key_and_signs_byte_for_byte_like_go() -> None:
    peter = GO["peter"]
    signer = parse_signer_key(peter["skey"])
    assert (signer.name, f"{signer.key_id:08x}") == (peter["name"], peter["key_id"])
    assert format_verifier_key(signer.verifier()) == peter["vkey"]
    assert format_signer_key(signer) == peter["skey"]
    assert sign_note(GO["text"], [signer]) == GO["text"] + "\n" + peter["sig_line"]


def test_go_zero_seed_key_gives_go_verifier_key_and_signature() -> None:
    enoch = GO["enoch"]
    signer = Signer(enoch["name"], ALG_ED25519, bytes.fromhex(enoch["seed"]))
    assert format_verifier_key(signer.verifier()) == enoch["vkey"]
    assert signature_line(GO["text"], signer) == enoch["sig_line"]


def test_doubly_signed_note_verifies_the_known_key_and_reports_the_other() -> None:
    peter, enoch = parse_signer_key(GO["peter"]["skey"]), parse_verifier_key(GO["enoch"]["vkey"])
    note = GO["text"] + "\n" + GO["peter"]["sig_line"] + GO["enoch"]["sig_line"]
    text, verified, unverified = open_note(note, [enoch])
    assert text == GO["text"]
    assert [(s.name, s.key_id) for s in verified] == [("EnochRoot", enoch.key_id)]
    assert [(s.name, s.key_id) for s in unverified] == [("PeterNeumann", peter.key_id)]
    both = open_note(note, [enoch, peter.verifier()])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        (GO["bad_vkeys"][0], "key material"),
        (GO["bad_vkeys"][1], "unknown signature algorithm 0x65"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hexadecimal"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "spaces"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "non-empty"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "base64"),
    ],
)
def test_bad_verifier_keys_are_refused_with_the_reason(vkey, reason) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_verifier_key(vkey)


@pytest.mark.parametrize(
    ("skey", "reason"),
    [
        (GO["peter"]["skey"].replace("PRIVATE", "PUBLIC"), "PRIVATE"),
        (GO["peter"]["skey"].replace("c74f20a3", "c74f20a4"), "does not match"),
        ("PRIVATE+KEY+PeterNeumann", "PRIVATE\\+KEY\\+<name>"),
        ("PRIVATE+KEY+PeterNeumann+c74f+AAAA", "8 hexadecimal"),
    ],
)
def test_bad_signer_keys_are_refused_with_the_reason(skey, reason) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_signer_key(skey)


def test_a_signature_line_whose_name_has_a_space_makes_the_note_malformed() -> None:
    note = GO["text"] + "\n" + GO["bad_name_sig_line"] + "\n"
    with pytest.raises(NoteError, match="signature line 1"):
        open_note(note, [parse_signer_key(GO["peter"]["skey"]).verifier()])


def test_c2sp_example_note_verifies_with_its_published_key() -> None:
    example = C2SP["example"]
    verifier = parse_verifier_key(example["vkey"])
    assert verifier.name == example["signer"]
    opened = open_note(example["note"], [verifier])
    assert opened.text == "This is an example message.\n"
    assert [s.name for s in opened.verified] == [example["signer"]]
    assert open_note(example["note"], [example["vkey"]]) == opened  # key strings work too


def test_note_text_ends_at_the_last_blank_line_and_unknown_keys_alone_are_rejected() -> None:
    quasimodo = C2SP["quasimodo"]
    with pytest.raises(UnverifiedNoteError, match=r"quasimodo.example/salvatore\+") as caught:
        open_note(quasimodo["note"], [parse_verifier_key(C2SP["example"]["vkey"])])
    assert caught.value.text.endswith(quasimodo["body_suffix"])
    assert [s.name for s in caught.value.unverified] == [quasimodo["signer"]]


def test_parsing_without_keys_lists_every_signature_line_in_order() -> None:
    note = GO["text"] + "\n" + GO["peter"]["sig_line"] + GO["enoch"]["sig_line"]
    text, signatures = parse_note(note)
    assert text == GO["text"]
    assert [(s.name, f"{s.key_id:08x}") for s in signatures] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert "".join(s.line() for s in signatures) == note[len(text) + 1 :]


def test_a_signature_by_a_known_key_over_other_text_rejects_the_whole_note() -> None:
    peter = parse_signer_key(GO["peter"]["skey"])
    tampered = GO["text"].replace("problem", "solution", 1) + "\n" + GO["peter"]["sig_line"]
    with pytest.raises(InvalidSignatureError, match=r"PeterNeumann\+c74f20a3"):
        open_note(tampered, [peter.verifier()])


def test_a_key_sharing_only_the_name_of_a_known_key_is_ignored_not_trusted() -> None:
    known, impostor = generate_signer("example.com/log"), generate_signer("example.com/log")
    note = sign_note("hello\n", [impostor, known])
    opened = open_note(note, [known.verifier()])
    assert [s.key_id for s in opened.verified] == [known.key_id]
    assert [s.key_id for s in opened.unverified] == [impostor.key_id]


def test_repeated_signature_lines_are_reported_once() -> None:
    known, other = generate_signer("a.example"), generate_signer("b.example")
    note = sign_note("hello\n", [known, other])
    line = note.splitlines(keepends=True)[-1]
    opened = open_note(note + line, [known.verifier()])
    assert len(opened.unverified) == 1


SIGNED = sign_note("hello\n", [Signer("a.example", ALG_ED25519, bytes(32))])


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("hello\n— a.example AAAA\n", "no blank line"),
        (SIGNED[:-1], "signature lines, each ending in a newline"),
        ("hello\n\n", "signature lines"),
        (SIGNED.replace("hello", "hel\rlo"), "control character U\\+000D"),
        (SIGNED.encode().replace(b"hello", b"hel\xfflo"), "not valid UTF-8"),
        (SIGNED.replace("\u2014 ", "- "), "em dash"),
        (SIGNED.replace("=\n", "\n"), "base64"),
        ("hello\n\n\u2014 a.example AAAAAA==\n", "too short"),
        ("hello\n\n\u2014 a+b.example AAAAAAA=\n", "must not contain '\\+'"),
        (SIGNED + SIGNED.splitlines(keepends=True)[-1] * 100, "more than 100"),
    ],
)
def test_malformed_notes_are_refused_with_the_reason(note, reason) -> None:
    with pytest.raises(NoteError, match=reason):
        open_note(note, [Signer("a.example", ALG_ED25519, bytes(32)).verifier()])


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com/log", True),
        ("sum.golang.org", True),
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\u3000b", False),
        ("a\u00a0b", False),
        ("a\ud800b", False),
    ],
)
def test_key_names_follow_the_signed_note_rules(name, valid) -> None:
    if valid:
        assert check_name(name) == name
    else:
        with pytest.raises(NoteError, match="key name"):
            check_name(name)


def test_signing_refuses_text_that_could_not_be_opened_again() -> None:
    signer = generate_signer("a.example")
    with pytest.raises(NoteError, match="end with a newline"):
        sign_note("no newline", [signer])
    with pytest.raises(NoteError, match="control character"):
        sign_note("tab\there\n", [signer])
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("hello\n", [])


def test_generated_keys_round_trip_through_their_strings_and_never_print_the_seed() -> None:
    signer = generate_signer("example.com/log")
    assert parse_signer_key(format_signer_key(signer)) == signer
    assert parse_verifier_key(format_verifier_key(signer.verifier())) == signer.verifier()
    assert signer.seed.hex() not in repr(signer)
    assert base64.b64encode(signer.seed).decode() not in repr(signer)


# --- cosignature/v1 ---------------------------------------------------------------------------

CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_cosigner_keys_use_signature_type_4_in_key_id_and_key_strings() -> None:
    seed = bytes(range(32))
    cosigner = Signer("witness.example/w1", ALG_COSIGNATURE_V1, seed)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert cosigner.key_id == key_id("witness.example/w1", 0x04, public)
    assert cosigner.key_id != Signer("witness.example/w1", ALG_ED25519, seed).key_id
    vkey = format_verifier_key(cosigner.verifier())
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert parse_verifier_key(vkey) == cosigner.verifier()
    assert parse_signer_key(format_signer_key(cosigner)) == cosigner


def test_cosignature_signs_header_lines_then_the_body_and_carries_its_timestamp() -> None:
    seed = bytes(range(32))
    cosigner = Signer("witness.example/w1", ALG_COSIGNATURE_V1, seed)
    line = signature_line(CHECKPOINT, cosigner, timestamp=1679315147)
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == cosigner.key_id.to_bytes(4, "big")
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + CHECKPOINT.encode()
    assert cosignature_message(CHECKPOINT, 1679315147) == message
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    public.verify(raw[12:], message)  # raises if the signed bytes differ
    opened = open_note(CHECKPOINT + "\n" + line, [cosigner.verifier()])
    assert opened.verified[0].timestamp == 1679315147


def test_cosignature_timestamp_is_read_from_the_c2sp_example_line() -> None:
    # c2sp.org/tlog-cosignature example: "time 1679315147" in its signed message.
    encoded = (
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    raw = base64.b64decode(encoded)
    signature = NoteSignature("witness.example.com/w1", int.from_bytes(raw[:4], "big"), raw[4:])
    assert cosignature_timestamp(signature) == 1679315147


def test_a_cosignature_does_not_pass_as_a_plain_signature_nor_under_another_time() -> None:
    seed = bytes(range(32))
    cosigner = Signer("witness.example/w1", ALG_COSIGNATURE_V1, seed)
    line = signature_line(CHECKPOINT, cosigner, timestamp=1700000000)
    plain = Signer("witness.example/w1", ALG_ED25519, seed).verifier()
    with pytest.raises(UnverifiedNoteError):
        open_note(CHECKPOINT + "\n" + line, [plain])
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # another timestamp
    forged = f"\u2014 witness.example/w1 {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(InvalidSignatureError):
        open_note(CHECKPOINT + "\n" + forged, [cosigner.verifier()])


@pytest.mark.parametrize(
    ("timestamp", "reason"), [(None, "needs a timestamp"), (-1, "outside"), (2**63, "outside")]
)
def test_cosigning_needs_a_timestamp_within_the_spec_range(timestamp, reason) -> None:
    cosigner = generate_signer("witness.example/w1", algorithm=ALG_COSIGNATURE_V1)
    with pytest.raises(NoteError, match=reason):
        signature_line(CHECKPOINT, cosigner, timestamp=timestamp)
