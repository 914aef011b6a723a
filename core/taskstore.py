"""Durable task records: every task queued from a transaction is a row written in that transaction.

The row is what makes a task survive a broker restart, a worker killed mid-task or a crash between
commit and submit: a task is *claimed* (status ``running`` with a lease) before it runs, marked
``done`` after, put back to ``queued`` with a due time when it fails, and ``dead`` (the dead letter,
with its last error) when its retry budget is spent. A delivery of a task that is done, dead or
running under a live lease is skipped, so the broker may deliver twice and the work happens once in
effect (the task functions themselves are idempotent for the window between their commit and ``done``).
The sweeper resubmits rows whose message was lost: queued and overdue while nothing is in flight, or
running with an expired lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Index, Integer, String, Text, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, Database, UTCDateTime, utcnow

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"


class TaskRecord(Base):
    __tablename__ = "task_records"
    __table_args__ = (Index("ix_task_records_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=6)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the task should next run (now, or after a retry's backoff); the sweeper looks past it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class Claim:
    """A task delivery that won the right to run: its attempt number and whether it is the last allowed."""

    record_id: int
    attempt: int
    last: bool


def create(session: Session, *, name: str, kwargs: dict, max_attempts: int) -> TaskRecord:
    """Write the record of a task queued in this transaction."""
    now = utcnow()
    record = TaskRecord(name=name, kwargs=kwargs, status=QUEUED, attempts=0, max_attempts=max_attempts,
                        created_at=now, due_at=now, submitted_at=now)
    session.add(record)
    session.flush()
    return record


def claim(db: Database, record_id: int, *, lease_seconds: float) -> Claim | None:
    """Take the record for one run, or return None when it is done, dead, missing or running elsewhere."""
    now = utcnow()
    with db.transaction() as session:
        # One conditional UPDATE: of two deliveries racing for the same record, exactly one matches.
        result = session.execute(
            update(TaskRecord)
            .where(TaskRecord.id == record_id,
                   or_(TaskRecord.status == QUEUED,
                       (TaskRecord.status == RUNNING) & (TaskRecord.lease_until < now)))
            .values(status=RUNNING, attempts=TaskRecord.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return None
        attempts, max_attempts = session.execute(
            select(TaskRecord.attempts, TaskRecord.max_attempts).where(TaskRecord.id == record_id)).one()
    return Claim(record_id, attempts, attempts >= max_attempts)


def finish(db: Database, record_id: int) -> None:
    """Mark a claimed record done."""
    with db.transaction() as session:
        session.execute(update(TaskRecord).where(TaskRecord.id == record_id)
                        .values(status=DONE, finished_at=utcnow(), lease_until=None, last_error=None))


def fail(db: Database, record_id: int, *, error: str, retry_in: float | None) -> None:
    """Record a failed attempt: queued again after ``retry_in`` seconds, or dead when None."""
    now = utcnow()
    values = ({"status": DEAD, "finished_at": now} if retry_in is None
              else {"status": QUEUED, "due_at": now + timedelta(seconds=retry_in), "submitted_at": now})
    with db.transaction() as session:
        session.execute(update(TaskRecord).where(TaskRecord.id == record_id)
                        .values(last_error=error[:4000], lease_until=None, **values))


def list_overdue(session: Session, *, now: datetime, grace: timedelta, include_queued: bool,
                 limit: int) -> list[TaskRecord]:
    """Return records whose message was probably lost: running past their lease, or queued past due."""
    stale = (TaskRecord.status == RUNNING) & (TaskRecord.lease_until < now)
    if include_queued:
        stale = stale | ((TaskRecord.status == QUEUED) & (TaskRecord.due_at < now - grace)
                         & (func.coalesce(TaskRecord.submitted_at, TaskRecord.created_at) < now - grace))
    return list(session.scalars(select(TaskRecord).where(stale).order_by(TaskRecord.id).limit(limit)))


def mark_submitted(session: Session, record_ids: list[int]) -> None:
    """Note that these records were just handed to the runner again."""
    if record_ids:
        session.execute(update(TaskRecord).where(TaskRecord.id.in_(record_ids)).values(submitted_at=utcnow())
                        .execution_options(synchronize_session=False))


def purge_done(session: Session, *, older_than: timedelta) -> int:
    """Delete done records finished before the cut-off; return how many."""
    cutoff = utcnow() - older_than
    result = session.execute(delete(TaskRecord).where(TaskRecord.status == DONE, TaskRecord.finished_at < cutoff)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


def list_dead(session: Session, *, limit: int = 100) -> list[TaskRecord]:
    """Return the dead letters, newest first."""
    return list(session.scalars(select(TaskRecord).where(TaskRecord.status == DEAD)
                                .order_by(TaskRecord.id.desc()).limit(limit)))


def do_requeue(session: Session, *, record_id: int) -> TaskRecord:
    """Give a dead letter a fresh retry budget; the caller submits it after commit."""
    record = session.get(TaskRecord, record_id, with_for_update=True)
    if record is None or record.status != DEAD:
        raise LookupError(f"no dead task record {record_id}")
    record.status, record.attempts, record.due_at, record.submitted_at = QUEUED, 0, utcnow(), utcnow()
    record.finished_at = None
    return record


def counts(session: Session) -> dict[str, int]:
    """Return the number of records by status."""
    return dict(session.execute(select(TaskRecord.status, func.count()).group_by(TaskRecord.status)).all())
