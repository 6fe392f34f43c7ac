"""Infrastructure that is not business logic: the live view's fan-out (per-process hub, the
Redis backend, the envelope wire format, scoped subscriber streams). It sits beside `models`:
`resolvers` and `graph` use it, it uses only `models` (for `Scope`)."""
