"""RFC 9162 tree hashing and proof verification (sections 2.1.3.2 and 2.1.4.2), step by step.

`check_*` raise `ProofError` with the reason a proof fails; `verify_*` return a bool. They take
raw 32-byte hashes and plain integers: an offline verifier needs this module and nothing else
of the project (it imports only the standard library). `resolvers.audit.merkle` re-exports it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class ProofError(ValueError):
    """A proof does not verify, or its arguments cannot describe a proof; the message says why."""


def _check_hashes(proof: Sequence[bytes], **named: bytes) -> None:
    for name, value in named.items():
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"{name} must be {HASH_SIZE} bytes")
    for position, value in enumerate(proof):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"proof[{position}] must be {HASH_SIZE} bytes")


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProofError(f"{name} must be a non-negative integer, got {value!r}")


def inclusion_proof_length(index: int, size: int) -> int:
    """The number of hashes in the inclusion proof of leaf `index` in a tree of `size`."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """The number of hashes in the consistency proof from `size1` to `size2` (0 < size1 < size2)."""
    shift = (size1 & -size1).bit_length() - 1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length() - shift
    border = ((size1 - 1) >> (inner + shift)).bit_count()
    return (0 if size1 == 1 << shift else 1) + inner + border


def _shift_until_odd(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def _climb(
    fn: int, sn: int, node: bytes, path: Sequence[bytes], wrong_length: ProofError
) -> tuple[bytes, bytes]:
    """Hash `node` (at index `fn` of a tree whose last index is `sn`) up through the sibling
    hashes of `path`, the loop shared by RFC 9162 2.1.3.2 and 2.1.4.2. Returns (fr, sr): the
    root from the left siblings only (the older tree's in a consistency proof) and the root
    from all of them; raises `wrong_length` unless `path` reaches the top exactly."""
    fr = sr = node
    for c in path:
        if sn == 0:
            raise wrong_length
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise wrong_length
    return fr, sr


def _passes(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except ProofError:
        return False
    return True


def check_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise `ProofError` unless `proof` shows `leaf_hash` at `index` under `root`."""
    _check_sizes(index=index, size=size)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    _check_hashes(proof, leaf_hash=leaf_hash, root=root)
    wrong_length = ProofError(
        f"proof has {len(proof)} hashes; leaf {index} of a tree of size {size} needs "
        f"{inclusion_proof_length(index, size)}"
    )
    _, r = _climb(index, size - 1, leaf_hash, proof, wrong_length)
    if not hmac.compare_digest(r, root):
        raise ProofError("the proof leads to a different root: the leaf is not in this tree")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows `leaf_hash` at `index` in the tree of `size` with `root`."""
    return _passes(check_inclusion, leaf_hash, index, size, proof, root)


def check_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise `ProofError` unless `proof` shows the tree (size2, root2) extends (size1, root1)."""
    _check_sizes(size1=size1, size2=size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}: a log cannot shrink")
    if size1 == size2:
        if proof:
            raise ProofError("trees of the same size need an empty proof")
        if size1 == 0 and not (root1 == EMPTY_ROOT and root2 == EMPTY_ROOT):
            raise ProofError("the root of the empty tree must be SHA-256 of the empty string")
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"two different roots for the same tree size {size1}")
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if not proof:
        raise ProofError("the proof is empty")
    _check_hashes(proof, root1=root1, root2=root2)
    wrong_length = ProofError(
        f"proof has {len(proof)} hashes; sizes {size1} to {size2} need "
        f"{consistency_proof_length(size1, size2)}"
    )
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr, sr = _climb(fn, sn, path[0], path[1:], wrong_length)
    if not hmac.compare_digest(fr, root1):
        raise ProofError(f"the proof does not lead to the root given for size {size1}")
    if not hmac.compare_digest(sr, root2):
        raise ProofError(f"the proof does not lead to the root given for size {size2}")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Whether `proof` shows the tree (size2, root2) append-only extends (size1, root1)."""
    return _passes(check_consistency, size1, size2, proof, root1, root2)
