"""Live-view fan-out: envelopes, the per-process hub over broadcaster, subscriber streams."""
