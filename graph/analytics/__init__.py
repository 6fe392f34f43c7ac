"""GraphQL shell of the analytics: overview, cash flow, breakdown, replenishment forecast."""
