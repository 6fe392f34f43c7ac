"""RFC 6962 / RFC 9162 Merkle tree hashing, stored nodes, and proofs built from them.

The log stores every complete-subtree node once, when an append completes it
(`append_leaves`); a node never changes afterwards. Any proof or past root is then built in two
phases: `*_addresses` names every stored node it needs (so the caller fetches them in one
query), and the matching builder assembles the proof from a mapping of those nodes. Proof
elements over incomplete subtrees (the right edge of a tree whose size is not a power of two)
are computed from the complete ones.

The hash functions and RFC 9162 verification live in `resolvers.audit.verify`, self-contained
for offline verifiers, and are re-exported here: this module is the whole Merkle log API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from resolvers.audit.verify import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    check_consistency,
    check_inclusion,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [  # the hashing and verification of `verify` belong to this API too
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Compact",
    "NodeAddr",
    "ProofError",
    "append_leaves",
    "check_consistency",
    "check_inclusion",
    "compact_addresses",
    "compact_to_doc",
    "consistency_proof",
    "consistency_proof_addresses",
    "consistency_proof_length",
    "inclusion_proof",
    "inclusion_proof_addresses",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "parse_compact",
    "root_from_compact",
    "subtree_addresses",
    "subtree_hash",
    "subtree_inclusion_proof",
    "subtree_inclusion_proof_addresses",
    "transaction_leaf_hash",
    "tree_root",
    "tree_root_addresses",
    "verify_consistency",
    "verify_inclusion",
]

MAX_LEVEL = 63

Compact = tuple[bytes, ...]
"""Roots of the complete subtrees covering [0, size), largest (leftmost) first."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


class NodeAddr(NamedTuple):
    """A complete subtree: the leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


def transaction_leaf_hash(transaction_hash: str) -> bytes:
    """The leaf hash of a transaction: its 64-hex-digit `hash` as 32 raw bytes, leaf-hashed."""
    if not isinstance(transaction_hash, str) or not _HEX64.fullmatch(transaction_hash):
        raise ValueError("transaction hash must be 64 lowercase hexadecimal digits")
    return leaf_hash(bytes.fromhex(transaction_hash))


def _require_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _require_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{name} must be {HASH_SIZE} bytes, got {size}")
    return value


def _split(size: int) -> int:
    """The largest power of two strictly below size (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


# --- compact ranges and appends -------------------------------------------------------------


def compact_addresses(size: int) -> list[NodeAddr]:
    """Addresses of the compact range of a tree of `size` leaves, largest first."""
    _require_subtree(0, _require_size("size", size))
    return _range_addresses(0, size)


def append_leaves(
    compact: Sequence[bytes], size: int, leaf_hashes: Iterable[bytes]
) -> tuple[Compact, list[tuple[NodeAddr, bytes]]]:
    """Append leaf hashes to a tree given by its compact range and size.

    Returns the new compact range and every complete-subtree node the append completes, as
    (address, hash) pairs: the leaf hashes themselves (level 0) and each interior node whose
    last leaf was appended now. Stored forever, those nodes answer any later proof.
    """
    _require_size("size", size)
    if len(compact) != size.bit_count():
        raise ValueError(
            f"compact range has {len(compact)} hashes, size {size} needs {size.bit_count()}"
        )
    stack = [_require_hash(f"compact[{i}]", h) for i, h in enumerate(compact)]
    new_nodes: list[tuple[NodeAddr, bytes]] = []
    for position, value in enumerate(leaf_hashes):
        node = _require_hash(f"leaf_hashes[{position}]", value)
        new_nodes.append((NodeAddr(0, size), node))
        level = 0
        while (size >> level) & 1:
            node = node_hash(stack.pop(), node)
            level += 1
            new_nodes.append((NodeAddr(level, size >> level), node))
        stack.append(node)
        size += 1
    return tuple(stack), new_nodes


def root_from_compact(compact: Sequence[bytes]) -> bytes:
    """The tree root from its compact range (`EMPTY_ROOT` for an empty tree)."""
    if not compact:
        return EMPTY_ROOT
    root = compact[-1]
    for left in reversed(compact[:-1]):
        root = node_hash(left, root)
    return root


def compact_to_doc(compact: Sequence[bytes], size: int) -> list[list[int | str]]:
    """A JSON/BSON-friendly form of a compact range: [[level, hex hash], ...], largest first."""
    addresses = compact_addresses(size)
    if len(compact) != len(addresses):
        raise ValueError(
            f"compact range has {len(compact)} hashes, size {size} needs {len(addresses)}"
        )
    return [
        [a.level, _require_hash("compact hash", h).hex()]
        for a, h in zip(addresses, compact, strict=True)
    ]


def parse_compact(doc: object, size: int) -> Compact:
    """Parse `compact_to_doc` output, checking it is exactly the compact range of `size`."""
    levels = [a.level for a in compact_addresses(size)]
    if not isinstance(doc, list | tuple):
        raise ValueError("compact range must be a list of [level, hash] pairs")
    if len(doc) != len(levels):
        raise ValueError(f"compact range has {len(doc)} entries, size {size} needs {len(levels)}")
    hashes: list[bytes] = []
    for position, (entry, level) in enumerate(zip(doc, levels, strict=True)):
        if not isinstance(entry, list | tuple) or len(entry) != 2:
            raise ValueError(f"compact range entry {position} must be a [level, hash] pair")
        got_level, hex_hash = entry
        if got_level != level or isinstance(got_level, bool):
            raise ValueError(
                f"compact range entry {position} has level {got_level!r}, want {level}"
            )
        if not isinstance(hex_hash, str) or not _HEX64.fullmatch(hex_hash):
            raise ValueError(f"compact range entry {position} hash must be 64 lowercase hex digits")
        hashes.append(bytes.fromhex(hex_hash))
    return tuple(hashes)


# --- node addressing of arbitrary aligned ranges ----------------------------------------------


def _range_addresses(start: int, end: int) -> list[NodeAddr]:
    """Complete subtrees covering [start, end), largest first (see `_require_subtree`)."""
    addresses = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            addresses.append(NodeAddr(level, position >> level))
            position += 1 << level
    return addresses


def _require_subtree(start: int, end: int) -> None:
    _require_size("start", start)
    _require_size("end", end)
    if start > end:
        raise ValueError(f"subtree start {start} is after its end {end}")
    width = end - start
    if start and width and start % (1 << (width - 1).bit_length()):
        raise ValueError(
            f"[{start}, {end}) is not a subtree: start must be a multiple of the "
            "smallest power of two at least as large as its width"
        )
    if end.bit_length() > MAX_LEVEL + 1:
        raise ValueError(f"end {end} exceeds the largest tree size, 2**{MAX_LEVEL + 1} - 1")


def _fetch(nodes: Mapping[NodeAddr, bytes], address: NodeAddr) -> bytes:
    try:
        value = nodes[address]
    except KeyError:
        raise ValueError(
            f"node (level {address.level}, index {address.index}) covering leaves "
            f"[{address.start}, {address.end}) is missing from the stored nodes"
        ) from None
    return _require_hash(f"stored node (level {address.level}, index {address.index})", value)


def _range_hash(start: int, end: int, nodes: Mapping[NodeAddr, bytes]) -> bytes:
    return root_from_compact([_fetch(nodes, a) for a in _range_addresses(start, end)])


def _ranges_addresses(ranges: Iterable[tuple[int, int]]) -> list[NodeAddr]:
    addresses: dict[NodeAddr, None] = {}
    for start, end in ranges:
        addresses.update(dict.fromkeys(_range_addresses(start, end)))
    return list(addresses)


def subtree_addresses(start: int, end: int) -> list[NodeAddr]:
    """Stored nodes needed for the hash of the subtree [start, end) (draft-ietf-plants-mtc)."""
    _require_subtree(start, end)
    return _range_addresses(start, end)


def subtree_hash(start: int, end: int, nodes: Mapping[NodeAddr, bytes]) -> bytes:
    """MTH(D[start:end]) of a subtree, from stored nodes; `EMPTY_ROOT` when start == end."""
    _require_subtree(start, end)
    return _range_hash(start, end, nodes)


def tree_root_addresses(size: int) -> list[NodeAddr]:
    """Stored nodes needed for the root of the tree at any past or present `size`."""
    return compact_addresses(size)


def tree_root(size: int, nodes: Mapping[NodeAddr, bytes]) -> bytes:
    """The root of the tree of `size` leaves, from stored nodes."""
    return subtree_hash(0, size, nodes)


# --- proof construction -----------------------------------------------------------------------


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(index - start, D[start:end]) as leaf ranges, bottom first."""
    ranges = []
    lo, hi = start, end
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """RFC 9162 PROOF(size1, D[size2]) as leaf ranges, in proof order (0 < size1 < size2)."""
    ranges = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _require_inclusion(index: int, start: int, end: int) -> None:
    _require_size("index", index)
    _require_subtree(start, end)
    if not start <= index < end:
        raise ValueError(f"index {index} is outside the leaves [{start}, {end})")


def subtree_inclusion_proof_addresses(index: int, start: int, end: int) -> list[NodeAddr]:
    """Stored nodes needed for the inclusion proof of leaf `index` in the subtree [start, end)."""
    _require_inclusion(index, start, end)
    return _ranges_addresses(_inclusion_ranges(index, start, end))


def subtree_inclusion_proof(
    index: int, start: int, end: int, nodes: Mapping[NodeAddr, bytes]
) -> list[bytes]:
    """Inclusion proof of leaf `index` in the subtree [start, end), bottom hash first."""
    _require_inclusion(index, start, end)
    return [_range_hash(lo, hi, nodes) for lo, hi in _inclusion_ranges(index, start, end)]


def inclusion_proof_addresses(index: int, size: int) -> list[NodeAddr]:
    """Stored nodes needed for the inclusion proof of leaf `index` in the tree of `size`."""
    return subtree_inclusion_proof_addresses(index, 0, size)


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeAddr, bytes]) -> list[bytes]:
    """RFC 9162 inclusion proof (audit path) of leaf `index` in the tree of `size`."""
    return subtree_inclusion_proof(index, 0, size, nodes)


def _require_consistency(size1: int, size2: int) -> None:
    _require_size("size1", size1)
    _require_subtree(0, _require_size("size2", size2))
    if size1 > size2:
        raise ValueError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0 and size2 > 0:
        raise ValueError("no consistency proof from the empty tree: every tree extends it")


def consistency_proof_addresses(size1: int, size2: int) -> list[NodeAddr]:
    """Stored nodes needed for the consistency proof from `size1` to `size2`."""
    _require_consistency(size1, size2)
    if size1 == size2:
        return []
    return _ranges_addresses(_consistency_ranges(size1, size2))


def consistency_proof(size1: int, size2: int, nodes: Mapping[NodeAddr, bytes]) -> list[bytes]:
    """RFC 9162 consistency proof from the tree of `size1` to the tree of `size2`."""
    _require_consistency(size1, size2)
    if size1 == size2:
        return []
    return [_range_hash(lo, hi, nodes) for lo, hi in _consistency_ranges(size1, size2)]
