"""GraphQL shell of the live view: event types and subscriptions."""
