"""Merkle log: third-party vectors (RFC 9162, transparency-dev, Go sumdb, a real CT log) and
seeded property tests of the two-phase proof API over nodes stored by `append_leaves`."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Iterator

import pytest

from resolvers.audit.merkle import (
    EMPTY_ROOT,
    NodeAddr,
    ProofError,
    append_leaves,
    check_consistency,
    check_inclusion,
    compact_addresses,
    compact_to_doc,
    consistency_proof,
    consistency_proof_addresses,
    inclusion_proof,
    inclusion_proof_addresses,
    leaf_hash,
    node_hash,
    parse_compact,
    root_from_compact,
    subtree_hash,
    subtree_inclusion_proof,
    transaction_leaf_hash,
    tree_root,
    tree_root_addresses,
    verify_consistency,
    verify_inclusion,
)
from tests.tlog_vectors import GROUPS

b64 = base64.b64decode


def build(leaf_hashes: list[bytes]) -> tuple[tuple[bytes, ...], dict[NodeAddr, bytes]]:
    compact, new_nodes = append_leaves((), 0, leaf_hashes)
    return compact, dict(new_nodes)


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC 9162 definition, independent of the library's node store."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


# --- third-party vectors ----------------------------------------------------------------------


def test_reference_tree_leaf_hashes_and_root_of_every_size_match_rfc6962_values() -> None:
    group = GROUPS["merkle_reference_tree"]
    leaves = [leaf_hash(bytes.fromhex(x)) for x in group["leaves_hex"]]
    assert [h.hex() for h in leaves] == group["leaf_hashes_hex"]
    compact, nodes = (), {}
    assert root_from_compact(compact).hex() == group["roots_by_size_hex"][0]
    for size, leaf in enumerate(leaves):
        compact, new_nodes = append_leaves(compact, size, [leaf])
        nodes.update(new_nodes)
        assert root_from_compact(compact).hex() == group["roots_by_size_hex"][size + 1]
    for size, want in enumerate(group["roots_by_size_hex"]):
        assert tree_root(size, nodes).hex() == want


def test_rfc9162_example_proofs_are_built_and_verified_as_in_the_rfc_figure() -> None:
    group = GROUPS["rfc9162_example"]
    named = {name: leaf_hash(f"d{i}".encode()) for i, name in enumerate(group["leaf_hashes"])}
    for name, (left, right) in group["nodes"].items():
        named[name] = node_hash(named[left], named[right])
    _, nodes = build([named[n] for n in group["leaf_hashes"]])
    root = named[group["root"]]
    assert tree_root(7, nodes) == root
    for case in group["inclusion"]:
        proof = inclusion_proof(case["index"], 7, nodes)
        assert proof == [named[n] for n in case["path"]]
        leaf = named[group["leaf_hashes"][case["index"]]]
        assert verify_inclusion(leaf, case["index"], 7, proof, root)
    for case in group["consistency"]:
        root1 = named[case["root1"]]
        assert tree_root(case["size1"], nodes) == root1
        proof = consistency_proof(case["size1"], 7, nodes)
        assert proof == [named[n] for n in case["path"]]
        assert verify_consistency(case["size1"], 7, proof, root1, root)


def test_mtc_subtree_hash_and_inclusion_digests_are_reproduced() -> None:
    group = GROUPS["mtc_subtree_vectors"]
    top = group["max_tree_size"]
    _, nodes = build([leaf_hash(bytes([i])) for i in range(top)])
    hashes, proofs = hashlib.sha256(), hashlib.sha256()
    for end in range(top + 1):
        for start in range(end + 1):
            width = end - start
            if start and width and start % (1 << (width - 1).bit_length()):
                continue  # not a subtree in the draft's sense
            hashes.update(f"[{start}, {end}) {subtree_hash(start, end, nodes).hex()}\n".encode())
            for index in range(start, end):
                proof = subtree_inclusion_proof(index, start, end, nodes)
                line = f"{index} [{start}, {end})" + "".join(f" {h.hex()}" for h in proof)
                proofs.update(f"{line}\n".encode())
    assert hashes.hexdigest() == group["subtree_hashes_sha256"]
    assert proofs.hexdigest() == group["subtree_proofs_sha256"]


PROBES = GROUPS["merkle_proof_probes"]
SOME_HASH, EMPTY_HASH = b64(PROBES["random_hash"]), b64(PROBES["empty_root"])


def inclusion_corruptions(index, size, proof, root, leaf):
    """The corruption rules of transparency-dev/merkle proof/verify_test.go (inclusion)."""
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_HASH, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        flipped = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        probes.append((index, size, root, leaf, [*proof[:i], flipped, *proof[i + 1 :]]))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


def consistency_corruptions(size1, size2, root1, root2, proof):
    """The corruption rules of transparency-dev/merkle proof/verify_test.go (consistency)."""
    probes = [
        (size1 - 1, size2, root1, root2, proof),
        (size1 + 1, size2, root1, root2, proof),
        (size1 ^ 2, size2, root1, root2, proof),
        (size1, size2 * 2, root1, root2, proof),
        (size1, size2 // 2, root1, root2, proof),
        (size1, size2, b"WrongRoot", root2, proof),
        (size1, size2, root1, b"WrongRoot", proof),
        (size1, size2, root2, root1, proof),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*proof, b""]),
        (size1, size2, root1, root2, [*proof, root1]),
        (size1, size2, root1, root2, [*proof, root2]),
        (size1, size2, root1, root2, [b"", *proof]),
        (size1, size2, root1, root2, [root1, *proof]),
        (size1, size2, root1, root2, [root2, *proof]),
        (size1, size2, root1, root2, [proof[0], *proof]),
        (size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((size1, size2, root1, root2, [*proof[:i], flipped, *proof[i + 1 :]]))
    return probes


@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["probe"])
def test_inclusion_probe_verifies_exactly_when_transparency_dev_says_so(probe) -> None:
    args = (b64(probe["leafHash"]), probe["leafIndex"], probe["treeSize"])
    proof, root = [b64(h) for h in probe["proof"]], b64(probe["root"])
    assert verify_inclusion(*args, proof, root) is not probe["wantErr"]
    if not probe["wantErr"]:
        for index, size, bad_root, leaf, bad_proof in inclusion_corruptions(
            probe["leafIndex"], probe["treeSize"], proof, root, b64(probe["leafHash"])
        ):
            assert not verify_inclusion(leaf, index, size, bad_proof, bad_root)


@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["probe"])
def test_consistency_probe_verifies_exactly_when_transparency_dev_says_so(probe) -> None:
    sizes = (probe["size1"], probe["size2"])
    proof = [b64(h) for h in probe["proof"]]
    root1, root2 = b64(probe["root1"]), b64(probe["root2"])
    assert verify_consistency(*sizes, proof, root1, root2) is not probe["wantErr"]
    if not probe["wantErr"] and proof:
        for size1, size2, r1, r2, bad_proof in consistency_corruptions(*sizes, root1, root2, proof):
            assert not verify_consistency(size1, size2, bad_proof, r1, r2)


def test_go_sumdb_record_hash_is_the_rfc6962_leaf_hash() -> None:
    group = GROUPS["go_sumdb_tlog"]
    assert leaf_hash(group["record"].encode()) == b64(group["record_hash"])


def test_real_ct_log_inclusion_and_consistency_proofs_verify() -> None:
    group = GROUPS["argon2020"]
    leaf = leaf_hash(b64(group["leaf_input"]))
    path = [b64(h) for h in group["audit_path"]]
    size, root = group["tree_size"], b64(group["root"])
    check_inclusion(leaf, group["leaf_index"], size, path, root)
    proof = [b64(h) for h in group["consistency"]]
    check_consistency(group["old_tree_size"], size, proof, b64(group["old_root"]), root)
    with pytest.raises(ProofError, match="different root"):
        check_inclusion(leaf, group["leaf_index"] + 1, size, path, root)
    with pytest.raises(ProofError, match="root given for size 3654490"):
        check_consistency(group["old_tree_size"], size, proof, EMPTY_HASH, root)


# --- property tests over the node store ---------------------------------------------------------


def grow_log(rng: random.Random, final_size: int):
    """Append random leaves in random batches; return leaves, nodes and the compact per size."""
    leaves = [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(final_size)]
    compacts: dict[int, tuple[bytes, ...]] = {0: ()}
    nodes: dict[NodeAddr, bytes] = {}
    compact, size = (), 0
    while size < final_size:
        batch = leaves[size : size + rng.randint(1, 17)]
        compact, new_nodes = append_leaves(compact, size, batch)
        for address, value in new_nodes:
            assert address not in nodes, "a node is completed exactly once"
            nodes[address] = value
        size += len(batch)
        compacts[size] = compact
    return leaves, nodes, compacts


def every_byte_flipped(hashes: list[bytes], rng: random.Random) -> Iterator[list[bytes]]:
    """Copies of `hashes` with one random bit flipped, once for every byte of every hash."""
    for i, value in enumerate(hashes):
        for j in range(len(value)):
            bad = value[:j] + bytes([value[j] ^ (1 << rng.randrange(8))]) + value[j + 1 :]
            yield [*hashes[:i], bad, *hashes[i + 1 :]]


def only(nodes: dict[NodeAddr, bytes], addresses: list[NodeAddr]) -> dict[NodeAddr, bytes]:
    """The result of the one database query the addresses stand for."""
    return {a: nodes[a] for a in addresses}


@pytest.mark.parametrize("seed", range(6))
def test_proofs_from_one_fetch_of_stored_nodes_verify_and_any_flipped_byte_fails(seed) -> None:
    rng = random.Random(seed)
    final_size = rng.randint(1, 300)
    leaves, nodes, compacts = grow_log(rng, final_size)
    assert len(nodes) == 2 * final_size - final_size.bit_count()
    roots = {0: EMPTY_ROOT}
    for size in range(1, final_size + 1):
        roots[size] = tree_root(size, only(nodes, tree_root_addresses(size)))
        assert roots[size] == reference_root(leaves[:size])
    for size, compact in compacts.items():
        assert root_from_compact(compact) == roots[size]
    for _ in range(40):
        size = rng.randint(1, final_size)
        index = rng.randrange(size)
        proof = inclusion_proof(index, size, only(nodes, inclusion_proof_addresses(index, size)))
        check_inclusion(leaves[index], index, size, proof, roots[size])
        for leaf, *bad_proof, root in every_byte_flipped([leaves[index], *proof, roots[size]], rng):
            assert not verify_inclusion(leaf, index, size, bad_proof, root)
    for _ in range(40):
        size2 = rng.randint(1, final_size)
        size1 = rng.randint(1, size2)
        addresses = consistency_proof_addresses(size1, size2)
        proof = consistency_proof(size1, size2, only(nodes, addresses))
        check_consistency(size1, size2, proof, roots[size1], roots[size2])
        for root1, root2, *bad_proof in every_byte_flipped(
            [roots[size1], roots[size2], *proof], rng
        ):
            assert not verify_consistency(size1, size2, bad_proof, root1, root2)


def test_every_small_inclusion_and_consistency_proof_verifies() -> None:
    rng = random.Random(7)
    leaves, nodes, _ = grow_log(rng, 40)
    roots = [reference_root(leaves[:n]) for n in range(41)]
    for size in range(1, 41):
        for index in range(size):
            check_inclusion(
                leaves[index], index, size, inclusion_proof(index, size, nodes), roots[size]
            )
        for size1 in range(1, size + 1):
            proof = consistency_proof(size1, size, nodes)
            check_consistency(size1, size, proof, roots[size1], roots[size])


def test_append_returns_exactly_the_complete_subtrees_it_finishes() -> None:
    rng = random.Random(3)
    compact, size = (), 0
    for batch in (1, 2, 5, 8, 1, 13, 34):
        compact, new_nodes = append_leaves(compact, size, [rng.randbytes(32) for _ in range(batch)])
        complete = {
            NodeAddr(level, index)
            for level in range(8)
            for index in range((size + batch) >> level)
            if (index + 1) << level > size
        }
        assert {address for address, _ in new_nodes} == complete
        size += batch
        assert [len(compact)] == [size.bit_count()]


# --- contracts and errors -----------------------------------------------------------------------


def test_compact_range_round_trips_through_its_document_form() -> None:
    compact, _ = build([leaf_hash(bytes([i])) for i in range(13)])
    doc = compact_to_doc(compact, 13)
    assert [level for level, _ in doc] == [3, 2, 0]
    assert json.loads(json.dumps(doc)) == doc
    assert parse_compact(doc, 13) == compact
    assert [a.level for a in compact_addresses(13)] == [3, 2, 0]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("not a list", "list of"),
        ([[3, "00" * 32]], "has 1 entries"),
        ([[3, "00" * 32], [2, "00" * 32], [1, "00" * 32]], "level 1, want 0"),
        ([[3, "00" * 32], [2, "AB" * 32], [0, "00" * 32]], "lowercase hex"),
        ([[3, "00" * 32], [2, "00" * 31], [0, "00" * 32]], "64 lowercase hex"),
        ([[3, "00" * 32], [2], [0, "00" * 32]], "pair"),
        ([[True, "00" * 32], [2, "00" * 32], [0, "00" * 32]], "level True"),
    ],
)
def test_a_corrupt_stored_compact_range_is_refused_with_the_reason(doc, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_compact(doc, 13)


def test_building_a_proof_with_a_missing_stored_node_names_the_node() -> None:
    _, nodes = build([leaf_hash(bytes([i])) for i in range(7)])
    del nodes[NodeAddr(1, 2)]
    with pytest.raises(ValueError, match=r"level 1, index 2\) covering leaves \[4, 6\) is missing"):
        inclusion_proof(0, 7, nodes)


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: inclusion_proof_addresses(5, 5), "outside the leaves"),
        (lambda: inclusion_proof_addresses(-1, 5), "index must be a non-negative integer"),
        (lambda: consistency_proof_addresses(6, 5), "size1 6 is larger than size2 5"),
        (lambda: consistency_proof_addresses(0, 5), "empty tree"),
        (lambda: tree_root_addresses(2**64), "exceeds"),
        (lambda: append_leaves((), 1, []), "size 1 needs 1"),
        (lambda: append_leaves((), 0, [b"short"]), r"leaf_hashes\[0\] must be 32 bytes"),
        (lambda: transaction_leaf_hash("AB" * 32), "64 lowercase"),
    ],
)
def test_bad_arguments_raise_a_clear_value_error(call, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        call()


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    assert consistency_proof_addresses(5, 5) == []
    root = leaf_hash(b"x")
    assert verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert verify_consistency(1, 1, [], root, root)
    with pytest.raises(ProofError, match="same tree size 1"):
        check_consistency(1, 1, [], root, EMPTY_ROOT)
    with pytest.raises(ProofError, match="empty proof"):
        check_consistency(1, 1, [root], root, root)


def test_a_wrong_proof_length_is_reported_with_the_expected_length() -> None:
    _, nodes = build([leaf_hash(bytes([i])) for i in range(7)])
    proof = inclusion_proof(0, 7, nodes)
    with pytest.raises(ProofError, match="proof has 2 hashes; leaf 0 of a tree of size 7 needs 3"):
        check_inclusion(nodes[NodeAddr(0, 0)], 0, 7, proof[:2], tree_root(7, nodes))
    proof = consistency_proof(3, 7, nodes)
    with pytest.raises(ProofError, match="proof has 5 hashes; sizes 3 to 7 need 4"):
        check_consistency(3, 7, [*proof, proof[0]], tree_root(3, nodes), tree_root(7, nodes))


def test_transaction_leaf_is_the_leaf_hash_of_the_raw_chain_hash() -> None:
    chain_hash = hashlib.sha256(b"record").hexdigest()
    assert transaction_leaf_hash(chain_hash) == leaf_hash(bytes.fromhex(chain_hash))
