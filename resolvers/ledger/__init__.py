"""The cash ledger: batch ingest of transactions and their history."""
