"""The one settings object: every knob comes from the environment (or a `.env` file).

`get_settings()` builds it once per process. Production mode (`APP_ENV=production`) refuses
to start with the development defaults of any secret and requires a real `MONGODB_URI`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_API_KEY_PEPPER = "dev-only-api-key-pepper-change-me-0123456789"
DEV_WEBHOOK_SECRET_KEY = "dev-only-webhook-secret-key-change-me-012345"
# Development signing key of the audit logs (its seed is public: SHA-256 of a fixed phrase).
DEV_AUDIT_SIGNING_KEY = (
    "PRIVATE+KEY+cashcc.localhost/audit+bc07ee98+Ab6uGWJXviwWRzgFwe9wgrDyBauYRaXxlS/vAJDMGm9Z"
)
DEV_AUDIT_LOG_ORIGIN = "cashcc.localhost/audit"
MIN_SECRET_LENGTH = 32
# Values of these settings are never echoed in an error message.
SECRET_WORDS = ("SECRET", "PEPPER", "KEY", "TOKEN", "PASSWORD", "URI", "URL")


class UnsafeProduction(ValueError):
    """Production refuses to start; `problems` lists each reason (one line each at start-up)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("refusing to start in production: " + "; ".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Runtime configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)
    log_level: str = "INFO"
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or networks, as
    # uvicorn takes them); empty: none, the peer address is the client's. Behind nginx on the
    # same host: 127.0.0.1.
    forwarded_allow_ips: str = ""
    # One line per request: json (default in production) or console (default elsewhere).
    log_format: Literal["json", "console"] | None = None
    # Browser origins allowed to call the API (comma-separated); empty = same origin only.
    cors_allow_origins: str = ""
    # /metrics: off unless a bearer token is set or loopback callers are allowed.
    metrics_token: str | None = None
    metrics_allow: Literal["", "loopback"] = ""
    # `cashcc serve`: seconds a stopping or replaced worker has to finish in-flight requests.
    graceful_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    mongodb_uri: str | None = None
    mongodb_db: str = "cashcc"
    var_dir: Path = Path("var")

    jwt_secret: str = DEV_JWT_SECRET
    # Key ring for rotating signing keys: JWT_KEYS='{"k2": "...", "k1": "..."}' (JSON). The
    # key named by JWT_ACTIVE_KID signs; every key in the ring verifies. Empty: JWT_SECRET is
    # the only key, under JWT_ACTIVE_KID.
    jwt_keys: dict[str, str] = Field(default_factory=dict)
    jwt_active_kid: str = "k1"
    jwt_issuer: str = "cash-command-center"
    jwt_audience: str = "cashcc-api"
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=60)
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=300)
    invite_ttl_seconds: int = Field(default=72 * 3600, ge=300)

    api_key_pepper: str = DEV_API_KEY_PEPPER
    # Peppers being retired (JSON list): still verify, never hash anything new. An API key
    # verified with one is re-hashed under API_KEY_PEPPER on its next use.
    api_key_previous_peppers: list[str] = Field(default_factory=list)
    api_key_environment: Literal["live", "test"] = "test"
    # Token bucket per API key, shared by every worker (stored in MongoDB).
    api_key_rate_burst: int = Field(default=120, ge=1)
    api_key_rate_per_second: float = Field(default=20.0, gt=0)
    # Login attempts: a bucket per account (e-mail) and one per client address.
    login_account_burst: int = Field(default=10, ge=1)
    login_account_per_minute: float = Field(default=5.0, gt=0)
    login_address_burst: int = Field(default=50, ge=1)
    login_address_per_minute: float = Field(default=30.0, gt=0)

    retention_days: int = Field(default=92, ge=1)
    idempotency_ttl_days: int = Field(default=7, ge=7)
    idempotency_lease_seconds: int = Field(default=30, ge=1)
    max_batch_size: int = Field(default=1000, ge=1, le=1000)
    max_future_skew_seconds: int = Field(default=86_400, ge=0)
    missing_seq_ranges_limit: int = Field(default=100, ge=1, le=1000)
    # Seq ranges a machine's state keeps exactly (one open gap between two); older ones are
    # summarised below a floor (resolvers/ledger/ingest/seq_ranges.py).
    max_seq_ranges: int = Field(default=1_000, ge=10, le=10_000)
    # Per worker process; more transactions at once made the database slower, not faster.
    max_concurrent_transactions: int = Field(default=4, ge=1, le=1000)

    # Machine health (docs/health.md): deployment defaults of the thresholds each
    # organization and shop may override, how long raw telemetry is kept, and how often each
    # worker's evaluator looks for machines whose connectivity is due to change (0: never).
    heartbeat_interval_seconds: int = Field(default=60, ge=1, le=3600)
    offline_grace_seconds: int = Field(default=600, ge=2, le=7 * 86_400)
    stale_counts_after_seconds: int = Field(default=600, ge=1, le=7 * 86_400)
    telemetry_retention_days: int = Field(default=31, ge=1, le=3660)
    health_evaluator_interval_seconds: float = Field(default=5.0, ge=0, le=3600)
    # Alerts (docs/alerts.md): each worker evaluates due machines at least this often, and at
    # once when a twin changes in its process (0: off).
    alert_evaluator_interval_seconds: float = Field(default=1.0, ge=0, le=3600)

    # Webhooks (docs/alerts.md#webhooks): the key that encrypts signing secrets at rest (and
    # retired ones that still decrypt, JSON list), whether targets may be loopback or private
    # addresses (never in production), how often each worker looks for due deliveries (0:
    # never), the total time one delivery may take, and the lease a worker holds on a delivery
    # it sends (longer than the timeout: another worker takes the delivery over only after it).
    webhook_secret_key: str = DEV_WEBHOOK_SECRET_KEY
    webhook_secret_previous_keys: list[str] = Field(default_factory=list)
    webhook_allow_private: bool = False
    webhook_delivery_interval_seconds: float = Field(default=1.0, ge=0, le=3600)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)

    # Live view (GraphQL subscriptions): fan-out backend, per-subscriber queue bound, and how
    # often a long-lived WebSocket's credentials are checked again (revocation, deactivation).
    broadcast_url: str = "memory://"
    live_queue_size: int = Field(default=256, ge=1, le=100_000)
    live_max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    live_reauth_seconds: float = Field(default=60.0, gt=0)
    ws_connection_init_timeout_seconds: float = Field(default=10.0, gt=0)

    # GraphQL document limits (docs/security.md): checked in one linear pass before any
    # validation rule runs (graph/document_limits.py).
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(default=20_000, ge=100)
    max_query_cost: int = Field(default=10_000, ge=1)
    max_fragment_spreads: int = Field(default=200, ge=0)
    max_document_fields: int = Field(default=2_000, ge=1)
    max_field_repeats: int = Field(default=20, ge=1)
    max_batch_operations: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    operation_timeout_seconds: float = Field(default=15.0, gt=0)
    # Per worker process: HTTP GraphQL requests run at once, and how long one more waits for a
    # slot before it is answered 503 BUSY (retryable, Retry-After). Below the driver's
    # connection pool (100): requests that queue inside it time out as server errors, and a
    # cancelled wait there corrupts the pool's lock (pymongo 4.20.1), wedging the worker.
    max_concurrent_requests: int = Field(default=64, ge=1, le=10_000)
    request_queue_seconds: float = Field(default=2.0, ge=0)
    # Every database operation (a transaction with its retries as one) ends within this, below
    # OPERATION_TIMEOUT_SECONDS: a wait on a held document becomes an error, not a hung request.
    mongodb_timeout_seconds: float = Field(default=10.0, gt=0)

    # Verifiable audit logs (docs/audit.md). Checkpoint origins are `<AUDIT_LOG_ORIGIN>/<id>`:
    # name the deployment (`audit.cashcc.example.com`). AUDIT_SIGNING_KEYS is a JSON list of
    # note keys: signer keys (`PRIVATE+KEY+<name>+<id>+<key>`) and, for retired keys, their
    # verifier keys (`<name>+<id>+<key>`); AUDIT_ACTIVE_KEY_ID (8 hex digits) names the signer
    # that signs, by default the first. Every key in the ring verifies. Empty: the public
    # development key (refused in production).
    audit_log_origin: str = DEV_AUDIT_LOG_ORIGIN
    audit_signing_keys: list[str] = Field(default_factory=list)
    audit_active_key_id: str | None = None
    # The cosigner key of `cashcc witness` (`PRIVATE+KEY+...`, cosignature/v1): the witness
    # process's own setting, normally on the customer's side, never the API's.
    audit_witness_key: str | None = None
    # Each worker runs the checkpoint scheduler; slots in the database make one of them run
    # each hourly and end-of-day checkpoint.
    audit_scheduler: bool = True
    audit_scheduler_tick_seconds: float = Field(default=30.0, gt=0, le=3600)

    demo_admin_email: str = "admin@demo.local"
    demo_admin_password: str = "demo-password-123"

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("json" if self.is_production else "console")

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip()]

    @property
    def local_graphql_url(self) -> str:
        """This host's API (`HOST`/`PORT`): the default `--url` of the CLI and the agent."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}/graphql"

    @property
    def pid_file(self) -> Path:
        return self.var_dir / "cashcc.pid"

    @property
    def embedded_db_dir(self) -> Path:
        return self.var_dir / "db"

    @property
    def api_key_peppers(self) -> list[str]:
        """The current pepper first, then the ones being retired."""
        return [self.api_key_pepper, *self.api_key_previous_peppers]

    @property
    def webhook_secret_keys(self) -> list[str]:
        """The key that seals new webhook secrets first, then retired ones that still open."""
        return [self.webhook_secret_key, *self.webhook_secret_previous_keys]

    @property
    def jwt_key_ring(self) -> dict[str, str]:
        """`kid -> secret` for every key that verifies tokens (the active one signs)."""
        return dict(self.jwt_keys) or {self.jwt_active_kid: self.jwt_secret}

    @property
    def audit_key_ring(self) -> list[str]:
        """The audit signing and verifying keys (the development key when none is set)."""
        return list(self.audit_signing_keys) or [DEV_AUDIT_SIGNING_KEY]

    @model_validator(mode="after")
    def _database_answers_within_a_request(self) -> Settings:
        if self.mongodb_timeout_seconds >= self.operation_timeout_seconds:
            raise ValueError(
                "MONGODB_TIMEOUT_SECONDS must be shorter than OPERATION_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if not self.is_production:
            return self
        problems: list[str] = []
        for name, default in (
            ("JWT_SECRET", DEV_JWT_SECRET),
            ("API_KEY_PEPPER", DEV_API_KEY_PEPPER),
            ("WEBHOOK_SECRET_KEY", DEV_WEBHOOK_SECRET_KEY),
        ):
            value = getattr(self, name.lower())
            if name == "JWT_SECRET" and self.jwt_keys:
                continue  # the ring replaces the single secret
            if value == default or len(value) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{name} must be set to a random secret of at least "
                    f"{MIN_SECRET_LENGTH} characters"
                )
        if any(len(p) < MIN_SECRET_LENGTH for p in self.api_key_previous_peppers):
            problems.append(f"API_KEY_PREVIOUS_PEPPERS entries need {MIN_SECRET_LENGTH}+ chars")
        if any(
            k == DEV_WEBHOOK_SECRET_KEY or len(k) < MIN_SECRET_LENGTH
            for k in self.webhook_secret_previous_keys
        ):
            problems.append(f"WEBHOOK_SECRET_PREVIOUS_KEYS entries need {MIN_SECRET_LENGTH}+ chars")
        if self.webhook_allow_private:
            problems.append("WEBHOOK_ALLOW_PRIVATE must be false: webhooks go to public hosts")
        for kid, secret in self.jwt_keys.items():
            if secret == DEV_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH:
                problems.append(f"JWT_KEYS[{kid}] must be at least {MIN_SECRET_LENGTH} characters")
        if self.jwt_active_kid not in self.jwt_key_ring:
            problems.append("JWT_ACTIVE_KID must name a key of JWT_KEYS")
        if not self.audit_signing_keys or DEV_AUDIT_SIGNING_KEY in self.audit_signing_keys:
            problems.append("AUDIT_SIGNING_KEYS must hold this deployment's own signing key")
        if self.audit_log_origin == DEV_AUDIT_LOG_ORIGIN:
            problems.append("AUDIT_LOG_ORIGIN must name this deployment")
        if not self.mongodb_uri:
            problems.append("MONGODB_URI must point at a MongoDB replica set")
        if "*" in self.cors_origins:
            problems.append("CORS_ALLOW_ORIGINS must list origins; '*' is refused")
        if problems:
            raise UnsafeProduction(problems)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def configuration_problems(error: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable and the reason."""
    lines: list[str] = []
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, UnsafeProduction):
            lines.extend(cause.problems)
            continue
        name = "_".join(str(part) for part in item["loc"][:1]).upper() or "settings"
        value = item.get("input")
        secret = any(word in name for word in SECRET_WORDS)
        plain = isinstance(value, str | int | float) and item["loc"] and not secret
        shown = f" (got {value!r})" if plain else ""
        lines.append(f"{name}: {item['msg']}{shown}")
    return lines
