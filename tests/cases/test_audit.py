"""The audit chain: `petition audit verify` passes on an untouched log and names the first bad row."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import text

from cases import audit
from cases.enums import Status
from tests.cases.helpers import drive


def _verify_cli(settings) -> subprocess.CompletedProcess:
    env = {**os.environ, "PETITION_DATABASE_URL": settings.database_url,
           "PETITION_SECRET_KEY": settings.secret_key.get_secret_value(),
           "PETITION_PII_KEY": settings.pii_key.get_secret_value(), "PETITION_ENVIRONMENT": "test"}
    return subprocess.run([sys.executable, "-m", "server.cli", "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)


def _build_log(db) -> None:
    with db.transaction() as s:
        drive(s, Status.CLOSED)  # 6 events
        drive(s, Status.ACCEPTED)  # 2 events


def test_untouched_chain_verifies(db, settings):
    _build_log(db)
    with db.session() as s:
        assert audit.verify(s).ok and audit.verify(s).checked == 8
    done = _verify_cli(settings)
    assert done.returncode == 0, done.stderr
    assert "8 events" in done.stdout


def test_edited_row_is_named(db, settings):
    _build_log(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 3"))
    done = _verify_cli(settings)
    assert done.returncode == 1
    assert "seq 3" in done.stderr and "edited" in done.stderr


def test_status_rewrite_is_caught(db):
    _build_log(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET to_status = 'closed', actor = 'someone' WHERE seq = 7"))
    with db.session() as s:
        result = audit.verify(s)
    assert (result.ok, result.bad_seq, result.checked) == (False, 7, 6)


def test_deleted_row_is_named(db, settings):
    _build_log(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    done = _verify_cli(settings)
    assert done.returncode == 1
    assert "seq 4" in done.stderr and "deleted" in done.stderr


def test_deleting_the_newest_rows_is_caught(db):
    _build_log(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 7"))
    with db.session() as s:
        result = audit.verify(s)
    assert not result.ok and result.bad_seq == 7 and "newest rows were deleted" in result.problem


def test_recomputed_plain_hash_does_not_pass(db):
    # An attacker without the secret key cannot forge a row: a plain SHA-256 is not the MAC.
    import hashlib

    _build_log(db)
    with db.engine.begin() as conn:
        forged = hashlib.sha256(b"forged").hexdigest()
        conn.execute(text("UPDATE audit_events SET reason = 'x', hash = :h WHERE seq = 8"), {"h": forged})
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": forged})
    with db.session() as s:
        assert audit.verify(s).bad_seq == 8


def test_events_written_with_local_times_verify(db):
    # Times given in Asia/Shanghai are stored in UTC; the MAC must not depend on the offset.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with db.transaction() as s:
        drive(s, Status.REPLIED, now=datetime(2025, 5, 6, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    with db.session() as s:
        result = audit.verify(s)
    assert result.ok and result.checked == 5
