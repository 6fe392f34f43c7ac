"""GraphQL shell of the audit logs: checkpoints, keys, proofs, witnesses."""
