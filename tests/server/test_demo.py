"""`petition init --demo` builds a working demo deployment, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import empty_database


def _cli(url: str, *args: str, index_dir: str = "") -> subprocess.CompletedProcess:
    # The lexical embedder keeps this fast; the dense default is tested with the embeddings.
    env = {**os.environ, "PETITION_DATABASE_URL": url, "PETITION_SECRET_KEY": "demo-test-secret",
           "PETITION_PII_KEY": "demo-test-pii", "PETITION_ENVIRONMENT": "test", "PETITION_EMBEDDER": "lexical",
           "PETITION_INDEX_DIR": index_dir or os.environ.get("PETITION_TEST_INDEX_DIR", "/tmp/petition-demo-test-index"),
           "PETITION_ZERO_SHOT": "false", "PETITION_CLASSIFIER_DIR": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    """Run `petition init --demo` once on a fresh database of each kind; yield its URL, output and index folder."""
    tmp = tmp_path_factory.mktemp("demo")
    with empty_database(request.param, tmp) as url:
        first = _cli(url, "init", "--demo", index_dir=str(tmp / "index"))
        assert first.returncode == 0, first.stderr
        yield url, first.stdout, tmp / "index"


def test_init_demo_loads_once_and_verifies(demo):
    url, output, _ = demo
    assert "200 petitions" in output
    assert "200 petitions indexed" in output and "open ones routed" in output
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
            assert count("SELECT COUNT(*) FROM petitions") == 200
            assert count("SELECT COUNT(DISTINCT status) FROM petitions") >= 10
            assert count("SELECT COUNT(DISTINCT channel) FROM petitions") == 6
            assert count("SELECT COUNT(*) FROM petitions WHERE language = 'en'") >= 30
            assert count("SELECT COUNT(*) FROM areas WHERE parent_code = '430100'") == 9
            assert count("SELECT COUNT(*) FROM units") >= 20
            assert count("SELECT COUNT(*) FROM categories WHERE level = 1") == 15
            assert count("SELECT COUNT(*) FROM replies") > 0
            assert count("SELECT COUNT(*) FROM petitions WHERE status = 'closed' AND closed_at IS NULL") == 0
            assert count("SELECT MAX(received_at) FROM petitions") is not None
    finally:
        engine.dispose()
    again = _cli(url, "init", "--demo")
    assert again.returncode == 0 and "nothing loaded" in again.stdout
    verify = _cli(url, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    token = _cli(url, "token", "create", "--user", "admin")
    assert token.returncode == 0 and len(token.stdout.strip()) >= 40 and "\n" not in token.stdout.strip()
    missing = _cli(url, "token", "create", "--user", "nobody")
    assert missing.returncode != 0 and "no user" in missing.stderr
    bad_role = _cli(url, "users", "create", "--username", "x", "--password", "long-enough", "--role", "handler")
    assert bad_role.returncode != 0 and "unit" in bad_role.stderr


def test_demo_logins_open_each_role_desk_with_work_on_it(demo):
    """With `make run`'s demo logins, every role lands on its desk and finds the demo's work there."""
    import re

    from fastapi.testclient import TestClient

    from core import db as core_db
    from core import security
    from core import settings as core_settings
    from core.settings import Settings
    from server.app import create_app
    from server.demo import DEMO_USERS

    url, _, index_dir = demo
    previous = (core_settings._current, core_db._database, security._cipher, security._audit_signer, security._hasher)
    settings = Settings(environment="test", database_url=url, secret_key="demo-test-secret", pii_key="demo-test-pii",
                        embedder="lexical", zero_shot=False, index_dir=str(index_dir),
                        classifier_dir="/nonexistent", embedded_scheduler=False)
    try:
        app = create_app(settings)
        expected = {  # role home → something each desk must show from the demo data
            "admin": ("/console/admin", r"/console/admin/units"),
            "triage": ("/console/triage", r"/console/cases/XF-"),
            "supervisor": ("/console/supervision", r"/console/cases/XF-"),
            "agent": ("/console/agent", r"/console/agent/\d+"),
            "analyst": ("/console/analyst", r"/console/cases/XF-"),
            "handler": ("/console/workbench", r"/console/cases/XF-"),
        }
        for username, password, role, _unit in DEMO_USERS:
            with TestClient(app, follow_redirects=False) as client:
                r = client.post("/console/login", data={"username": username, "password": password})
                home, evidence = expected[role]
                assert r.status_code == 303 and r.headers["location"] == home, (username, r.status_code)
                page = client.get(home)
                assert page.status_code == 200, (username, page.status_code)
                assert re.search(evidence, page.text), f"{username}: nothing to work on at {home}"
                if role == "agent":
                    assert len(set(re.findall(r"/console/agent/(\d+)", page.text))) >= 3
                if role == "supervisor":
                    risk = client.get("/console/risk")
                    assert risk.status_code == 200 and risk.text.count("<path") == 9
        core_db.get_database().dispose()
    finally:
        (core_settings._current, core_db._database, security._cipher, security._audit_signer,
         security._hasher) = previous
