"""GraphQL shell of the ledger: ingest, transaction history, the audit chain."""
