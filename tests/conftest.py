"""Shared fixtures: every database test runs on SQLite (the embedded default) and on PostgreSQL."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core import db as core_db
from core import security
from core.accounts import Actor, Role
from core.settings import Settings
from core.settings import configure as configure_settings
from server.demo_data import changsha_areas
from server.models_registry import load_models, load_tasks

PG_ADMIN_URL = os.environ.get("PETITION_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PETITION_TEST_REDIS", "redis://127.0.0.1:6379/14")
# CI sets this so that a missing PostgreSQL or Redis fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("PETITION_TEST_REQUIRE_SERVICES") == "1"
TESTS = Path(__file__).resolve().parent
# Console accounts are made and signed into in hundreds of tests: argon2 at its production costs (0.15 s a hash
# here) would be a fifth of the run. tests/core/test_security.py covers the production costs and the rehash.
CHEAP_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8, "password_hash_parallelism": 1}


def load_by_path(name: str, path: Path):
    """Load a helper module of the tests by path, once, under its own name (test folders are not packages)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def require_redis():
    """Return a client of the test Redis; fail (services required) or skip when it is not reachable."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return client

TEST_UNITS = [
    {"code": "CS-XFJ", "name": "长沙市信访局", "level": "city", "area_codes": ["430100"], "categories": []},
    {"code": "CS-HRSS", "name": "长沙市人力资源和社会保障局", "level": "city", "area_codes": ["430100"],
     "categories": ["劳动和社会保障"], "description": "劳动关系、工资支付、社会保险"},
    {"code": "YL-GOV", "name": "岳麓区人民政府", "level": "district", "area_codes": ["430104"],
     "categories": ["城乡建设", "环境保护"], "parent_code": None},
    {"code": "YH-ZJJ", "name": "雨花区住房和城乡建设局", "level": "district", "area_codes": ["430111"],
     "categories": ["城乡建设"]},
]

ADMIN = Actor("admin-test", Role.ADMIN)


def _pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def empty_database(kind: str, tmp_dir) -> Iterator[str]:
    """Yield the URL of a new, empty database of this kind, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir / 'test.db'}"
        return
    if not _pg_available():
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    name = f"petition_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request, tmp_path_factory) -> Iterator[str]:
    """Yield a fresh, empty database URL for each backend, shared by the session's tests."""
    with empty_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url
        core_db.get_database().dispose()


def backend_index_dir(url: str):
    """Return a per-backend directory for the similar-case index of a test run."""
    import hashlib
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"petition-test-index-{os.getpid()}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"


@pytest.fixture(scope="session")
def settings(backend) -> Settings:
    """Return test settings for the current backend."""
    return Settings(environment="test", database_url=backend, broker_url=None, pii_key="test-pii-key",
                    secret_key="test-secret-key", bootstrap_admin_token=None, embedded_scheduler=False,
                    # Tests send bursts from one address; tests/security/test_ratelimit.py turns the limits on.
                    rate_limit_enabled=False,
                    route_on_register=False, risk_on_register=False, embedder="lexical", zero_shot=False,
                    classifier_dir="/nonexistent/model",
                    index_dir=str(backend_index_dir(backend)), risk_statistics_max_age_s=0, **CHEAP_HASHING)


@pytest.fixture(scope="session")
def database(settings) -> core_db.Database:
    """Migrate the backend's database and load the test reference data once."""
    from cases import catalog
    from server.migrate import upgrade

    configure_settings(settings)
    security.configure(settings)
    load_models()
    load_tasks()
    db = core_db.configure(settings)
    upgrade(db)
    with db.transaction() as session:
        catalog.load_taxonomy(session)
        # The real divisions of 长沙 (from jionlp's dictionary), as the demo uses them.
        catalog.upsert_areas(session, changsha_areas())
        for unit in TEST_UNITS:
            catalog.upsert_unit(session, **unit)
    return db


MUTABLE_TABLES = ["petition_import_keys", "task_records", "knowledge_answers", "knowledge_entries",
                  "mediation_recording_chunks", "mediation_recordings", "mediation_participants", "mediation_sessions",
                  "risk_alerts", "console_sessions", "login_failures", "case_notes", "case_attachments", "extension_requests",
                  "supervision_notes", "reply_templates", "petition_risks", "sensitive_terms", "similar_links",
                  "routing_decisions", "category_corrections", "routing_rules", "outbox", "inbox",
                  "conversation_messages", "conversations", "audit_events", "supplements", "feedbacks", "replies",
                  "assignments", "petitions", "petitioners", "tracking_counters", "api_tokens", "users"]


@pytest.fixture
def db(database, settings) -> Iterator[core_db.Database]:
    """Yield the database and empty the per-test tables afterwards."""
    configure_settings(settings)
    security.configure(settings)
    core_db.configure(settings)
    yield database
    with database.engine.begin() as conn:
        for table in MUTABLE_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h WHERE id = 1"), {"h": "0" * 64})


@pytest.fixture
def session(db):
    """Yield a session; the test commits what it wants kept."""
    with db.session() as s:
        yield s
