"""Proactive alerts: rules over machine health and the ledger, incidents, silences."""
