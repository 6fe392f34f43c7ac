"""The one settings object: every knob comes from the environment (or a `.env` file).

`get_settings()` builds it once per process. Production mode (`APP_ENV=production`) refuses
to start with the development defaults of any secret and requires a real `MONGODB_URI`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_API_KEY_PEPPER = "dev-only-api-key-pepper-change-me-0123456789"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Runtime configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)
    log_level: str = "INFO"

    mongodb_uri: str | None = None
    mongodb_db: str = "cashcc"
    var_dir: Path = Path("var")

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "cash-command-center"
    jwt_audience: str = "cashcc-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=3600)

    api_key_pepper: str = DEV_API_KEY_PEPPER
    api_key_environment: Literal["live", "test"] = "test"

    retention_days: int = Field(default=92, ge=1)
    idempotency_ttl_days: int = Field(default=7, ge=7)
    idempotency_lease_seconds: int = Field(default=30, ge=1)
    max_batch_size: int = Field(default=1000, ge=1, le=1000)
    max_future_skew_seconds: int = Field(default=86_400, ge=0)
    missing_seq_ranges_limit: int = Field(default=100, ge=1, le=1000)

    # Live view (GraphQL subscriptions): fan-out backend, per-subscriber queue bound, and how
    # often a long-lived WebSocket's credentials are checked again (revocation, deactivation).
    broadcast_url: str = "memory://"
    live_queue_size: int = Field(default=256, ge=1, le=100_000)
    live_max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    live_reauth_seconds: float = Field(default=60.0, gt=0)
    ws_connection_init_timeout_seconds: float = Field(default=10.0, gt=0)

    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 20_000

    demo_admin_email: str = "admin@demo.local"
    demo_admin_password: str = "demo-password-123"

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def embedded_db_dir(self) -> Path:
        return self.var_dir / "db"

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if not self.is_production:
            return self
        problems: list[str] = []
        for name, default in (
            ("JWT_SECRET", DEV_JWT_SECRET),
            ("API_KEY_PEPPER", DEV_API_KEY_PEPPER),
        ):
            value = getattr(self, name.lower())
            if value == default or len(value) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{name} must be set to a random secret of at least "
                    f"{MIN_SECRET_LENGTH} characters"
                )
        if not self.mongodb_uri:
            problems.append("MONGODB_URI must point at a MongoDB replica set")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
