"""Multi-shop analytics over the materialized summaries (see docs/analytics.md)."""
