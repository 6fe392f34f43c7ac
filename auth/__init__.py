"""Authentication and authorization: passwords, JWTs, API keys, principals, RBAC."""
