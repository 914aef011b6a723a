"""The task runner in both modes, and events dispatched only after commit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases.enums import Status
from cases.models import Petition
from core import events, tasks
from core.settings import Settings
from tests.cases.helpers import drive
from tests.conftest import REDIS_URL, REQUIRE_SERVICES

SH = ZoneInfo("Asia/Shanghai")


def _overdue_petition(db) -> str:
    with db.transaction() as s:
        return drive(s, Status.REGISTERED, now=datetime.now(SH) - timedelta(days=40)).tracking_no


def _overdue_since(db, tracking_no: str):
    with db.session() as s:
        return s.query(Petition).filter_by(tracking_no=tracking_no).one().overdue_since


def test_embedded_runner_runs_the_task(db):
    no = _overdue_petition(db)
    runner = tasks.EmbeddedRunner(threads=1)
    runner.submit("cases.scan_deadlines", {})
    assert runner.join(timeout=30)
    assert runner.failures == []
    assert _overdue_since(db, no) is not None
    runner.shutdown()


def test_embedded_runner_retries_then_records_failure():
    calls = []

    @tasks.task("test.flaky", max_retries=2, retry_backoff=1.0)
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise RuntimeError("transient")
        return n

    @tasks.task("test.broken", max_retries=1, retry_backoff=1.0)
    def broken() -> None:
        raise RuntimeError("permanent")

    runner = tasks.EmbeddedRunner(threads=1, base_delay=0.01)
    runner.submit("test.flaky", {"n": 7})
    runner.submit("test.broken", {})
    assert runner.join(timeout=10)
    assert calls == [7, 7, 7]
    assert [(name, why) for name, _, why in runner.failures] == [("test.broken", "RuntimeError('permanent')")]
    with pytest.raises(LookupError):
        runner.submit("test.unknown", {})
    runner.shutdown()


def test_enqueue_waits_for_commit_and_drops_on_rollback(db):
    seen = []

    @tasks.task("test.record")
    def record(value: str) -> None:
        seen.append(value)

    runner = tasks.EmbeddedRunner(threads=1)
    original = tasks._runner
    tasks._runner = runner
    try:
        with db.session() as s:
            tasks.enqueue(s, "test.record", value="rolled back")
            s.rollback()
        with db.session() as s:
            tasks.enqueue(s, "test.record", value="committed")
            assert seen == []
            s.commit()
        assert runner.join(timeout=10)
        assert seen == ["committed"]
    finally:
        tasks._runner = original
        runner.shutdown()


def test_events_dispatch_after_commit_only(db):
    received = []

    @__import__("dataclasses").dataclass(frozen=True)
    class Probe(events.DomainEvent):
        value: int

    events.subscribe(Probe, lambda e: received.append(e.value))
    with db.session() as s:
        events.publish(s, Probe(1))
        s.rollback()
        events.publish(s, Probe(2))
        assert received == []
        s.commit()
    assert received == [2]


def _redis_up() -> bool:
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return False


def test_real_celery_worker_runs_the_task(db, settings, tmp_path):
    if not _redis_up():
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    no = _overdue_petition(db)
    queue = f"petition-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PETITION_DATABASE_URL": settings.database_url, "PETITION_BROKER_URL": REDIS_URL,
           "PETITION_TASK_QUEUE": queue, "PETITION_PII_KEY": settings.pii_key.get_secret_value(),
           "PETITION_SECRET_KEY": settings.secret_key.get_secret_value(), "PETITION_ENVIRONMENT": "test"}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "server.cli", "worker", "--concurrency", "1"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        celery_settings = Settings(**{**settings.model_dump(), "broker_url": REDIS_URL, "task_queue": queue})
        runner = tasks.CeleryRunner(celery_settings)
        runner.submit("cases.scan_deadlines", {})
        deadline = time.monotonic() + 60
        while _overdue_since(db, no) is None and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.5)
        assert _overdue_since(db, no) is not None, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def test_embedded_scheduler_submits_on_its_interval():
    ticks = []

    @tasks.task("test.tick")
    def tick() -> None:
        ticks.append(time.monotonic())

    runner = tasks.EmbeddedRunner(threads=1)
    scheduler = tasks.EmbeddedScheduler({"test.tick": 0.2}, runner=runner)
    scheduler.start()
    time.sleep(0.7)
    scheduler.stop()
    assert runner.join(timeout=5)
    count = len(ticks)
    assert 3 <= count <= 5  # at once, then every 0.2 s
    time.sleep(0.3)
    assert len(ticks) == count  # stopped means stopped
    runner.shutdown()


def test_app_runs_the_deadline_scan_in_process(db, settings):
    from fastapi.testclient import TestClient

    from server.app import create_app

    no = _overdue_petition(db)
    live = settings.model_copy(update={"embedded_scheduler": True})
    with TestClient(create_app(live)):
        deadline = time.monotonic() + 20
        while _overdue_since(db, no) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    assert _overdue_since(db, no) is not None
    assert tasks.get_runner().join(timeout=10)
