"""Checkpoints: C2SP and Go vectors, the real sum.golang.org checkpoint and its witnesses,
strict parsing, cosigning, and the worked example of docs/audit.md."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from resolvers.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    cosign_checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
)
from resolvers.audit.merkle import (
    append_leaves,
    check_consistency,
    check_inclusion,
    compact_to_doc,
    consistency_proof,
    inclusion_proof,
    transaction_leaf_hash,
    tree_root,
)
from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    InvalidSignatureError,
    NoteError,
    Signer,
    format_verifier_key,
    generate_signer,
    parse_verifier_key,
    sign_note,
)
from tests.tlog_vectors import GROUPS

ROOT = Path(__file__).parent.parent
SUMDB = GROUPS["sum_golang_org_checkpoint"]


def test_c2sp_example_body_parses_and_formats_back_to_the_same_bytes() -> None:
    group = GROUPS["c2sp_tlog_checkpoint"]
    checkpoint = parse_checkpoint(group["body"])
    assert checkpoint == Checkpoint(group["origin"], group["size"], base64.b64decode(group["root"]))
    assert format_checkpoint(checkpoint) == group["body"]


def test_go_sumdb_tree_parses_and_its_bad_trees_are_refused() -> None:
    group = GROUPS["go_sumdb_tlog"]
    checkpoint = parse_checkpoint(group["tree"]["text"])
    assert (checkpoint.origin, checkpoint.size) == (group["tree"]["origin"], group["tree"]["size"])
    assert checkpoint.root == base64.b64decode(group["record_hash"])
    with pytest.raises(CheckpointError, match="decimal digits"):
        parse_checkpoint(group["bad_trees"][0])
    with pytest.raises(CheckpointError, match="root hash"):
        parse_checkpoint(group["bad_trees"][1])


def sumdb_note() -> str:
    return (
        SUMDB["body"]
        + "\n"
        + SUMDB["sig_line"]
        + "".join(w["sig_line"] for w in SUMDB["witnesses"])
    )


def test_real_sum_golang_org_checkpoint_and_its_witness_signatures_verify() -> None:
    log_key = parse_verifier_key(SUMDB["vkey"])
    assert f"{log_key.key_id:08x}" == SUMDB["key_id"]
    witnesses = [parse_verifier_key(w["vkey"]) for w in SUMDB["witnesses"]]
    # The witness lines predate cosignature/v1: their keys are plain Ed25519 (type 0x01).
    assert {w.algorithm for w in witnesses} == {ALG_ED25519}
    opened = open_checkpoint(
        sumdb_note(), origin=SUMDB["origin"], log_key=log_key, witnesses=witnesses
    )
    assert opened.checkpoint == parse_checkpoint(SUMDB["body"])
    assert opened.checkpoint.size == SUMDB["size"]
    assert opened.log_signature.name == SUMDB["name"]
    assert [s.name for s in opened.cosignatures] == [w["name"] for w in SUMDB["witnesses"]]
    alone = open_checkpoint(sumdb_note(), origin=SUMDB["origin"], log_key=log_key)
    assert (alone.cosignatures, [s.name for s in alone.unverified]) == (
        [],
        [w["name"] for w in SUMDB["witnesses"]],
    )


def test_a_checkpoint_of_another_origin_or_with_a_changed_size_is_refused() -> None:
    log_key = parse_verifier_key(SUMDB["vkey"])
    with pytest.raises(CheckpointError, match="is not 'Go rocks"):
        open_checkpoint(sumdb_note(), origin=SUMDB["wrong_origin"], log_key=log_key)
    tampered = sumdb_note().replace("\n6476701\n", "\n6476702\n")
    with pytest.raises(InvalidSignatureError, match=r"sum.golang.org\+033de0ae"):
        open_checkpoint(tampered, origin=SUMDB["origin"], log_key=log_key)


def test_a_checkpoint_signed_only_by_a_witness_is_not_the_logs_checkpoint() -> None:
    log_key = parse_verifier_key(SUMDB["vkey"])
    witness = parse_verifier_key(SUMDB["witnesses"][0]["vkey"])
    only_witness = SUMDB["body"] + "\n" + SUMDB["witnesses"][0]["sig_line"]
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        open_checkpoint(only_witness, origin=SUMDB["origin"], log_key=log_key, witnesses=[witness])


BODY = "example.com/log\n7\n" + base64.b64encode(bytes(32)).decode() + "\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (BODY[:-1], "end with a newline"),
        ("example.com/log\n7\n", "needs an origin, a tree size and a root"),
        ("\n" + BODY.split("\n", 1)[1], "origin .* must not be empty"),
        (BODY.replace("\n7\n", "\n07\n"), "without sign or leading zeros"),
        (BODY.replace("\n7\n", "\n+7\n"), "without sign or leading zeros"),
        (BODY.replace("\n7\n", "\n-7\n"), "without sign or leading zeros"),
        (BODY.replace("\n7\n", "\n 7\n"), "without sign or leading zeros"),
        (BODY.replace("\n7\n", "\n\u0667\n"), "without sign or leading zeros"),
        (BODY.replace("\n7\n", f"\n{2**64}\n"), "outside 0..2\\*\\*64-1"),
        (BODY.replace("=\n", "\n"), "base64"),
        (BODY.replace("AAA=\n", "AAB=\n"), "canonical"),
        ("example.com/log\n7\n" + base64.b64encode(bytes(31)).decode() + "\n", "31 bytes"),
        (BODY + "\n", "extension line 4 must not be empty"),
        (BODY.replace("example", "exa\rmple"), "control character"),
    ],
)
def test_checkpoint_bodies_are_parsed_strictly_with_the_reason(body, reason) -> None:
    with pytest.raises(CheckpointError, match=reason):
        parse_checkpoint(body)


def test_extension_lines_are_kept_in_order() -> None:
    body = BODY + "ext one\nsecond\n"
    checkpoint = parse_checkpoint(body)
    assert checkpoint.extensions == ("ext one", "second")
    assert format_checkpoint(checkpoint) == body


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("", 1, bytes(32)), "origin"),
        (("a\nb", 1, bytes(32)), "newlines"),
        (("a", -1, bytes(32)), "outside"),
        (("a", 1, bytes(31)), "32 bytes"),
        (("a", 1, bytes(32), ("",)), "extension line 1"),
    ],
)
def test_a_checkpoint_that_cannot_be_formatted_unambiguously_is_refused(fields, reason) -> None:
    with pytest.raises(CheckpointError, match=reason):
        Checkpoint(*fields)


def test_cosigning_needs_a_cosigner_key_and_a_checkpoint_body() -> None:
    log, witness = generate_signer("example.com/log"), generate_signer("w.example")
    with pytest.raises(NoteError, match="not a cosignature/v1 key"):
        cosign_checkpoint(sign_note(BODY, [log]), witness, timestamp=1)
    cosigner = generate_signer("w.example", algorithm=ALG_COSIGNATURE_V1)
    with pytest.raises(CheckpointError, match="tree size"):
        cosign_checkpoint(sign_note("not\na\ncheckpoint\n", [log]), cosigner, timestamp=1)


# --- the worked example of docs/audit.md ---------------------------------------------------------

EXAMPLE = {
    "leaf0": "4635e1fa62a599a7880a8d14a56f720a1d40f6e5448ab5a5e39bedc8bd87fa8e",
    "leaf1": "bc6f27de60abf5319d16ff4c98fe3c42022c84f6a7a2b207c8df19b0ec3d8d58",
    "leaf2": "5e5caeafc27155c368b6f201107d6f8b270747ce636ac5174a56c6e12ef89ad1",
    "root2": "cc15b132263fd4fd2748c0e7cb9e1c4ad0afe70fcf9382ee644c4da8af0286a5",
    "root3": "9bee4401962e94b921336a7910a5a9718836ffcbc545dde0a3f34d858beb5752",
    "log_vkey": "example.com/cashcc/machine-42+bd7bf913+"
    "AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "witness_vkey": "witness.example/w1+20324abe+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X",
    "note": (
        "example.com/cashcc/machine-42\n"
        "3\n"
        "m+5EAZYulLkhM2p5EKWpcYg2/8vFRd3go/NNhYvrV1I=\n"
        "\n"
        "\u2014 example.com/cashcc/machine-42 vXv5E7IkN/t1ZM+zmfTlGoiQ0RIZYsqS7fWvhrfpSnF+zySeyH5L"
        "gD+6bEAyFsHFUo4kDB2IX7h3IlGiugvmFAyx9AE=\n"
        "\u2014 witness.example/w1 IDJKvgAAAABlU/EAs/hKKk4KE+RBZsaj0AYrviQHPB/npxWQQ4SKpWHdBIcYz+S7"
        "dZSRkkXB3nvT55CQPpkGE1c9J24w8RCo5A/WCQ==\n"
    ),
}


def test_worked_example_of_the_docs_is_what_the_library_computes() -> None:
    leaves = [transaction_leaf_hash(h * 32) for h in ("11", "22", "33")]
    assert [x.hex() for x in leaves] == [EXAMPLE["leaf0"], EXAMPLE["leaf1"], EXAMPLE["leaf2"]]
    compact, new_nodes = append_leaves((), 0, leaves)
    nodes = dict(new_nodes)
    assert compact_to_doc(compact, 3) == [[1, EXAMPLE["root2"]], [0, EXAMPLE["leaf2"]]]
    assert tree_root(2, nodes).hex() == EXAMPLE["root2"]
    assert tree_root(3, nodes).hex() == EXAMPLE["root3"]
    assert [x.hex() for x in inclusion_proof(1, 3, nodes)] == [EXAMPLE["leaf0"], EXAMPLE["leaf2"]]
    assert [x.hex() for x in consistency_proof(2, 3, nodes)] == [EXAMPLE["leaf2"]]
    log = Signer("example.com/cashcc/machine-42", ALG_ED25519, bytes(range(32)))
    witness = Signer("witness.example/w1", ALG_COSIGNATURE_V1, bytes(range(32, 64)))
    assert format_verifier_key(log.verifier()) == EXAMPLE["log_vkey"]
    assert format_verifier_key(witness.verifier()) == EXAMPLE["witness_vkey"]
    body = format_checkpoint(Checkpoint(log.name, 3, tree_root(3, nodes)))
    note = cosign_checkpoint(sign_note(body, [log]), witness, timestamp=1700000000)
    assert note == EXAMPLE["note"]


def test_worked_example_verifies_offline_from_the_published_keys_alone() -> None:
    opened = open_checkpoint(
        EXAMPLE["note"],
        origin="example.com/cashcc/machine-42",
        log_key=parse_verifier_key(EXAMPLE["log_vkey"]),
        witnesses=[parse_verifier_key(EXAMPLE["witness_vkey"])],
    )
    assert opened.cosignatures[0].timestamp == 1700000000
    root3, root2 = bytes.fromhex(EXAMPLE["root3"]), bytes.fromhex(EXAMPLE["root2"])
    assert opened.checkpoint.root == root3
    leaf0, leaf1, leaf2 = (bytes.fromhex(EXAMPLE[k]) for k in ("leaf0", "leaf1", "leaf2"))
    check_inclusion(leaf1, 1, 3, [leaf0, leaf2], root3)
    check_consistency(2, 3, [leaf2], root2, root3)


def test_docs_show_the_worked_example_values_the_tests_check() -> None:
    docs = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    for key, value in EXAMPLE.items():
        for line in value.splitlines():
            assert line in docs, f"docs/audit.md lacks the worked example's {key}: {line}"
