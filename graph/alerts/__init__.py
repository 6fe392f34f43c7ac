"""GraphQL shell of alerts: incidents, rules, silences, planned collections, alertsChanged."""
