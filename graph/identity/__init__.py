"""GraphQL shell of identity: sessions, users, API keys, the security log."""
