"""Batch ingest of cash transactions from shops' local systems."""
