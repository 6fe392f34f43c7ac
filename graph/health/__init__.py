"""GraphQL shell of machine health: telemetry ingest, Machine.health, fleetHealth."""
