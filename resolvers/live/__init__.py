"""Live view: versioned event envelopes, per-organization fan-out, scoped subscriptions.

`publish_*` functions are called after a write commits; `LiveHub.subscribe` gives a bounded,
scope-filtered stream of envelopes to one subscriber. See docs/live.md.
"""
