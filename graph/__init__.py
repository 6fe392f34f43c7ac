"""The GraphQL shell: ASGI app, schema, context, loaders and types."""
