"""Verifiable audit logs: RFC 9162 Merkle trees, C2SP checkpoints, signed notes, cosignatures."""
