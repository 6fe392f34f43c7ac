"""Webhooks: signed deliveries of incident transitions through a durable outbox."""
