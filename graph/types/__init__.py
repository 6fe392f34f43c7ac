"""Strawberry types per domain: thin translations of resolver results."""
