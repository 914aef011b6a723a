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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_init_demo_loads_once_and_verifies(kind, tmp_path):
    with empty_database(kind, tmp_path) as url:
        first = _cli(url, "init", "--demo", index_dir=str(tmp_path / "index"))
        assert first.returncode == 0, first.stderr
        assert "200 petitions" in first.stdout
        assert "200 petitions indexed" in first.stdout and "open ones routed" in first.stdout
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
