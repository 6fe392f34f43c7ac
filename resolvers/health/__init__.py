"""Machine health: telemetry ingest, the device twin, freshness, connectivity, fleet health."""
