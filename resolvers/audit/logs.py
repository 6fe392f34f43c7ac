"""The audit logs' names and how an append extends one (pure).

Every machine's transactions, and every organization's security events, form a Merkle log in
chain order: leaf i is the chain `hash` of the record at position i + 1. The state document
that holds the chain head (the machine's inventory state, the security log's head) also holds
the log's compact range, updated in the same transaction, so no proof or checkpoint ever
needs a rescan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from models.audit import LogKey
from resolvers.audit.merkle import (
    NodeAddr,
    append_leaves,
    compact_to_doc,
    parse_compact,
    root_from_compact,
    transaction_leaf_hash,
)


class TreeUpdate(NamedTuple):
    compact: list[list[int | str]]
    nodes: list[tuple[NodeAddr, bytes]]


def extend_log(compact_doc: Any, size: int, record_hashes: Sequence[str]) -> TreeUpdate | None:
    """Append the records' chain hashes to the log whose compact range (as stored) covers
    `size` leaves. None for a log whose state has history but no compact range: it was
    written before the audit logs existed and has no tree to extend."""
    if compact_doc is None:
        if size:
            return None
        compact_doc = []
    compact, nodes = append_leaves(
        parse_compact(compact_doc, size), size, [transaction_leaf_hash(h) for h in record_hashes]
    )
    return TreeUpdate(compact_to_doc(compact, size + len(record_hashes)), nodes)


def stored_root(compact_doc: Any, size: int) -> bytes:
    """The root of the tree a state document's compact range describes."""
    return root_from_compact(parse_compact(compact_doc, size))


def log_origin(prefix: str, log: LogKey) -> str:
    """`<AUDIT_LOG_ORIGIN>/<machineId>`, or `<AUDIT_LOG_ORIGIN>/security/<orgId>`."""
    if log.machine_id is None:
        return f"{prefix}/security/{log.org_id}"
    return f"{prefix}/{log.machine_id}"
