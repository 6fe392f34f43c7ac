"""Business operations called by the GraphQL layer; each takes the caller's scope explicitly."""
