"""Durable tasks: a record per queued task, claimed once, retried, dead-lettered, swept back after a loss."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from core import tasks, taskstore
from core.db import utcnow
from core.settings import configure as configure_settings
from core.taskstore import TaskRecord
from tests.cases.helpers import register


class LostRunner:
    """A broker that accepts submissions and loses them (a restart without persistence)."""

    def __init__(self):
        self.lost = []

    def submit(self, name, kwargs):
        self.lost.append((name, kwargs))

    def pending(self):
        return 0


@pytest.fixture
def runner():
    previous = tasks._runner
    runner = tasks.EmbeddedRunner(threads=2, base_delay=0.01)
    tasks._runner = runner
    yield runner
    runner.shutdown()
    tasks._runner = previous


@pytest.fixture
def fast_sweep(settings):
    configure_settings(settings.model_copy(update={"task_resubmit_after": 0}))
    yield
    configure_settings(settings)


def _records(db, name=None):
    with db.session() as s:
        query = select(TaskRecord).order_by(TaskRecord.id)
        if name:
            query = query.where(TaskRecord.name == name)
        return list(s.scalars(query))


calls: list[tuple[str, int]] = []


@tasks.task("test.durable.count", max_retries=2, retry_backoff=1.0)
def count(n: int) -> int:
    calls.append(("count", n))
    return n


failures_left = {"n": 0}


@tasks.task("test.durable.flaky", max_retries=2, retry_backoff=1.0)
def flaky(n: int) -> int:
    calls.append(("flaky", n))
    if failures_left["n"] > 0:
        failures_left["n"] -= 1
        raise RuntimeError("platform timed out")
    return n


@pytest.fixture(autouse=True)
def _reset():
    calls.clear()
    failures_left["n"] = 0


def test_queued_task_runs_once_and_a_second_delivery_is_skipped(db, runner):
    with db.transaction() as s:
        tasks.enqueue(s, "test.durable.count", n=1)
        tasks.enqueue(s, "test.durable.count", n=1)  # the same task twice in one transaction is one task
        tasks.enqueue(s, "test.durable.count", n=2)
    assert runner.join(10)
    records = _records(db, "test.durable.count")
    assert [(r.kwargs, r.status, r.attempts) for r in records] == [({"n": 1}, "done", 1), ({"n": 2}, "done", 1)]
    assert sorted(calls) == [("count", 1), ("count", 2)]
    # The broker delivers the first one again (a redelivery after a lost acknowledgement).
    runner.submit("test.durable.count", {"n": 1, tasks.RECORD_KEY: records[0].id})
    assert runner.join(10)
    assert sorted(calls) == [("count", 1), ("count", 2)]


def test_rolled_back_work_queues_nothing(db, runner):
    with db.session() as s:
        tasks.enqueue(s, "test.durable.count", n=9)
        s.rollback()
    assert runner.join(10)
    assert _records(db) == [] and calls == []


def test_failures_retry_then_the_dead_letter_keeps_the_error(db, runner, settings):
    failures_left["n"] = 1
    with db.transaction() as s:
        tasks.enqueue(s, "test.durable.flaky", n=1)
    assert runner.join(10)
    (record,) = _records(db)
    assert (record.status, record.attempts, record.last_error) == ("done", 2, None)

    failures_left["n"] = 99
    with db.transaction() as s:
        tasks.enqueue(s, "test.durable.flaky", n=2)
    assert runner.join(10)
    dead = _records(db)[1]
    assert (dead.status, dead.attempts, dead.max_attempts) == ("dead", 3, 3)
    assert dead.last_error == "RuntimeError: platform timed out"
    assert calls.count(("flaky", 2)) == 3

    from server.cli import main

    env = {"PETITION_DATABASE_URL": settings.database_url, "PETITION_ENVIRONMENT": "test",
           "PETITION_PII_KEY": "test-pii-key", "PETITION_SECRET_KEY": "test-secret-key"}
    listed = CliRunner().invoke(main, ["tasks", "dead"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"{dead.id}\ttest.durable.flaky\t" in listed.output and "platform timed out" in listed.output
    configure_settings(settings)

    failures_left["n"] = 0
    retried = CliRunner().invoke(main, ["tasks", "retry", str(dead.id), "999999"], env=env)
    configure_settings(settings)
    assert retried.exit_code == 1 and "no dead task record 999999" in retried.output
    assert runner.join(10)
    assert [(r.status, r.attempts) for r in _records(db)] == [("done", 2), ("done", 1)]
    assert calls.count(("flaky", 2)) == 4


def test_the_sweeper_recovers_tasks_whose_message_was_lost(db, runner, fast_sweep):
    tasks._runner = LostRunner()
    with db.transaction() as s:
        for n in range(5):
            tasks.enqueue(s, "test.durable.count", n=n)
    assert len(tasks._runner.lost) == 5 and calls == []
    tasks._runner = runner
    assert tasks.sweep_tasks()["resubmitted"] == 5
    assert runner.join(10)
    assert sorted(n for _, n in calls) == [0, 1, 2, 3, 4]
    assert {r.status for r in _records(db)} == {"done"}
    assert tasks.sweep_tasks()["resubmitted"] == 0  # nothing left to recover, nothing run twice
    assert runner.join(10)
    assert len(calls) == 5


def test_a_task_claimed_by_a_killed_worker_comes_back_after_its_lease(db, runner, fast_sweep):
    with db.transaction() as s:
        record = taskstore.create(s, name="test.durable.count", kwargs={"n": 7}, max_attempts=3)
    # A worker claims it and dies before finishing.
    assert taskstore.claim(db, record.id, lease_seconds=600) is not None
    assert tasks.sweep_tasks()["resubmitted"] == 0  # its lease is live: it may still be running
    assert runner.join(10)
    with db.transaction() as s:
        s.execute(update(TaskRecord).where(TaskRecord.id == record.id)
                  .values(lease_until=utcnow() - timedelta(seconds=1)))
    assert tasks.sweep_tasks()["resubmitted"] == 1
    assert runner.join(10)
    (after,) = _records(db)
    assert (after.status, after.attempts) == ("done", 2) and calls == [("count", 7)]


def test_concurrent_deliveries_claim_a_record_once(db):
    with db.transaction() as s:
        record = taskstore.create(s, name="test.durable.count", kwargs={"n": 1}, max_attempts=3)
    wins, barrier = [], threading.Barrier(4)

    def deliver():
        barrier.wait()
        wins.append(taskstore.claim(db, record.id, lease_seconds=60))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(w is not None for w in wins) == 1


def test_registration_queues_routing_and_risk_in_its_own_transaction(db, settings):
    configure_settings(settings.model_copy(update={"route_on_register": True, "risk_on_register": True}))
    previous, tasks._runner = tasks._runner, LostRunner()
    try:
        with db.session() as s:
            register(s)
            s.rollback()
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(TaskRecord)) == 0
        with db.transaction() as s:
            petition, _ = register(s)
        names = sorted(r.name for r in _records(db))
        assert names == ["risk.assess_petition", "routing.route_petition"]
        assert {r.kwargs["petition_id"] for r in _records(db)} == {petition.id}
        assert sorted(name for name, _ in tasks._runner.lost) == names
    finally:
        tasks._runner = previous
        configure_settings(settings)
