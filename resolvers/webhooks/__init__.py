"""Webhooks: signed deliveries of alert transitions through a durable outbox."""
