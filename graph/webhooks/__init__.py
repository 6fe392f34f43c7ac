"""GraphQL shell of webhooks: types, inputs, queries, mutations."""
