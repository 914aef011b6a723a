"""The task runner: one API, two modes.

``PETITION_BROKER_URL`` unset runs tasks on a small in-process thread pool (the embedded default);
set, tasks go to Celery on that broker and ``petition worker`` runs them. Tasks take ids and plain
values, open their own transaction and must be idempotent: Celery acknowledges late, so a task may
run again after a worker crash.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from core import taskstore
from core.db import get_database, utcnow
from core.events import on_commit
from core.metrics import celery_queue_depth, record_task
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: Callable[..., Any]
    max_retries: int
    retry_backoff: float
    lease_seconds: float | None = None

    def delay(self, attempt: int, base: float = 1.0) -> float:
        """Return the backoff before retry number ``attempt`` (1-based), capped at ten minutes."""
        return min(600.0, base * (self.retry_backoff ** max(0, attempt - 1)))


_registry: dict[str, TaskSpec] = {}

# The key under which a task's durable record id travels with its arguments (popped before the call).
RECORD_KEY = "_task_record"


def task(name: str, *, max_retries: int = 5, retry_backoff: float = 2.0, lease_seconds: float | None = None
         ) -> Callable:
    """Register a function as a task under a stable name (a lease longer than the default for long tasks)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _registry[name] = TaskSpec(name, fn, max_retries, retry_backoff, lease_seconds)
        return fn

    return decorate


def registered() -> dict[str, TaskSpec]:
    """Return the registered tasks by name."""
    return dict(_registry)


def _spec(name: str) -> TaskSpec:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no task registered as {name!r}") from None


class RetryLater(Exception):
    """A recorded task failed and is queued again; the runner should deliver it after ``delay`` seconds."""

    def __init__(self, delay: float, cause: BaseException):
        super().__init__(f"retry in {delay:.1f}s after {cause!r}")
        self.delay, self.cause = delay, cause


SKIPPED = "skipped"

_attempt: contextvars.ContextVar[int] = contextvars.ContextVar("petition_task_attempt", default=1)


def current_attempt() -> int:
    """Return which delivery of its durable record the running task is (1 the first; more after a crash or a failure)."""
    return _attempt.get()


def execute(spec: TaskSpec, kwargs: dict[str, Any], *, base_delay: float = 1.0) -> Any:
    """Run one delivery of a task; a recorded task is claimed first and its outcome written back.

    Returns the task's result (or ``SKIPPED`` when the record is done, dead or running elsewhere);
    raises ``RetryLater`` when a recorded task failed with retries left, and re-raises the error of an
    unrecorded task for the runner's own retry policy.
    """
    kwargs = dict(kwargs)
    record_id = kwargs.pop(RECORD_KEY, None)
    started = time.perf_counter()
    if record_id is None:
        try:
            result = spec.fn(**kwargs)
        except Exception:
            record_task(spec.name, "error", time.perf_counter() - started)
            raise
        record_task(spec.name, "ok", time.perf_counter() - started)
        return result
    db = get_database()
    claimed = taskstore.claim(db, record_id, lease_seconds=spec.lease_seconds or get_settings().task_lease_seconds)
    if claimed is None:
        log.info("task %s record %s is done, dead or running elsewhere: delivery skipped", spec.name, record_id)
        return SKIPPED
    token = _attempt.set(claimed.attempt)
    try:
        result = spec.fn(**kwargs)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        if claimed.last:
            log.error("task %s record %s failed on attempt %d, its last: dead letter (%s)",
                      spec.name, record_id, claimed.attempt, error, exc_info=True)
            taskstore.fail(db, record_id, error=error, retry_in=None)
            record_task(spec.name, "dead", seconds)
            return None
        delay = spec.delay(claimed.attempt, base_delay)
        log.warning("task %s record %s failed on attempt %d (%s); retry in %.1fs",
                    spec.name, record_id, claimed.attempt, error, delay)
        taskstore.fail(db, record_id, error=error, retry_in=delay)
        record_task(spec.name, "retry", seconds)
        raise RetryLater(delay, exc) from exc
    finally:
        _attempt.reset(token)
    taskstore.finish(db, record_id)
    record_task(spec.name, "ok", time.perf_counter() - started)
    return result


class Runner(Protocol):
    def submit(self, name: str, kwargs: dict[str, Any]) -> None: ...

    def pending(self) -> int | None: ...


class EmbeddedRunner:
    """Run tasks in this process on a thread pool, retrying with backoff."""

    def __init__(self, threads: int = 2, base_delay: float = 0.5):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="petition-task")
        self._base_delay = base_delay
        self._lock = threading.Lock()
        self._futures: set[Future] = set()
        self.failures: list[tuple[str, dict[str, Any], str]] = []

    def submit(self, name: str, kwargs: dict[str, Any]) -> None:
        """Queue a registered task by name."""
        spec = _spec(name)
        future = self._pool.submit(self._run, spec, kwargs)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def pending(self) -> int:
        """Return how many submitted tasks have not finished."""
        with self._lock:
            return len(self._futures)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def _run(self, spec: TaskSpec, kwargs: dict[str, Any]) -> Any:
        from core.logging import task_context

        with task_context(spec.name, str(kwargs.get(RECORD_KEY) or "") or None):
            return self._attempts(spec, kwargs)

    def _attempts(self, spec: TaskSpec, kwargs: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            try:
                return execute(spec, kwargs, base_delay=self._base_delay)
            except RetryLater as later:
                time.sleep(later.delay)
            except Exception as exc:
                if attempt >= spec.max_retries:
                    log.exception("task %s failed after %d attempts", spec.name, attempt + 1)
                    self.failures.append((spec.name, kwargs, repr(exc)))
                    return None
                delay = self._base_delay * (spec.retry_backoff**attempt)
                log.warning("task %s failed (%r); retry %d in %.1fs", spec.name, exc, attempt + 1, delay)
                attempt += 1
                time.sleep(delay)

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued task has finished; return False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pending[0].exception(timeout=remaining)

    def shutdown(self) -> None:
        """Finish queued work and stop the threads."""
        self._pool.shutdown(wait=True)


class BrokerUnavailable(RuntimeError):
    """The broker did not take a task (it is down, or was a moment ago)."""


class CeleryRunner:
    """Send tasks by name to Celery workers."""

    # After a failed publish, submissions fail at once for this long instead of each waiting on the broker.
    BROKER_BACKOFF = 5.0

    def __init__(self, settings: Settings):
        self.app = make_celery(settings)
        self.queue = settings.task_queue
        self.broker_url = settings.broker_url
        self._down_until = 0.0

    def submit(self, name: str, kwargs: dict[str, Any]) -> None:
        """Send a registered task by name to the broker."""
        _spec(name)
        if time.monotonic() < self._down_until:
            raise BrokerUnavailable(f"broker marked down; task {name} left to the sweeper")
        # A short publish retry: when the broker is down the request must not hang; the durable
        # record stays queued and the sweeper submits it again once the broker is back.
        try:
            self.app.send_task(name, kwargs=kwargs, queue=self.queue, retry=True,
                               retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2,
                                             "interval_max": 0.5})
        except Exception as exc:
            self._down_until = time.monotonic() + self.BROKER_BACKOFF
            raise BrokerUnavailable(f"broker unavailable: {exc}") from exc

    def pending(self) -> int | None:
        """Return the number of messages waiting in the broker queue, or None when it cannot be read."""
        import redis

        try:
            depth = celery_queue_depth(self.broker_url, self.queue)
        except (redis.RedisError, ValueError):
            return None
        self._down_until = 0.0  # the broker answers again
        return depth


def make_celery(settings: Settings):
    """Build a Celery app that knows every registered task (late ack, retries with backoff)."""
    from celery import Celery

    # No result backend: tasks report through their durable records, and a result store would make
    # every submission wait on Redis (and hang for seconds when it is down).
    app = Celery("petition", broker=settings.broker_url)
    app.conf.update(
        task_ignore_result=True,
        task_default_queue=settings.task_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Unacknowledged messages of a killed worker come back after this long; the task records'
        # leases and the sweeper usually bring the work back sooner.
        broker_transport_options={"visibility_timeout": settings.task_visibility_timeout,
                                  "socket_connect_timeout": 1, "socket_timeout": 5},
        timezone=settings.timezone,
        enable_utc=True,
    )
    for spec in _registry.values():
        _register_celery_task(app, spec)
    return app


def _register_celery_task(app, spec: TaskSpec) -> None:
    @app.task(name=spec.name, bind=True, acks_late=True, max_retries=None)
    def run(self, **kwargs):
        recorded = RECORD_KEY in kwargs
        try:
            return execute(spec, kwargs)
        except RetryLater as later:
            raise self.retry(countdown=later.delay, exc=later.cause) from later.cause
        except Exception as exc:
            # Unrecorded tasks have their own budget; for a recorded one this is the claim or the
            # bookkeeping failing (database down): retry for a while, then leave it to the sweeper.
            budget = 20 if recorded else spec.max_retries
            if self.request.retries >= budget:
                log.error("task %s gave up after %d deliveries: %r", spec.name, self.request.retries + 1, exc)
                if recorded:
                    return None
                raise
            delay = spec.delay(self.request.retries + 1)
            raise self.retry(countdown=delay, exc=exc) from exc


_runner: Runner | None = None


def configure_runner(settings: Settings) -> Runner:
    """Choose the runner for these settings and make it the process-wide one."""
    global _runner
    if isinstance(_runner, EmbeddedRunner):
        _runner.shutdown()
    _runner = CeleryRunner(settings) if settings.broker_url else EmbeddedRunner(settings.embedded_task_threads)
    return _runner


def get_runner() -> Runner:
    """Return the process-wide runner, configuring it from the environment if needed."""
    if _runner is None:
        return configure_runner(get_settings())
    return _runner


def enqueue(session: Session, name: str, **kwargs: Any) -> None:
    """Queue a task durably: its record is written in this transaction and it is submitted once that commits.

    The same task with the same arguments queued twice in one transaction is queued once.
    """
    spec = _spec(name)
    seen = session.info.setdefault(_QUEUED_HERE, set())
    key = (name, json.dumps(kwargs, sort_keys=True, default=str))
    if key in seen:
        return
    seen.add(key)
    enqueue_record(session, taskstore.create(session, name=name, kwargs=kwargs, max_attempts=spec.max_retries + 1))


def enqueue_record(session: Session, record: taskstore.TaskRecord) -> None:
    """Submit a task record once the session commits."""
    name, record_id = record.name, record.id
    payload = {**(record.kwargs or {}), RECORD_KEY: record_id}

    def send() -> None:
        try:
            get_runner().submit(name, payload)
        except BrokerUnavailable as exc:
            # Committed work is never lost for want of a broker: the sweeper submits the record later.
            log.warning("task %s record %s not submitted now (%s); the sweeper will", name, record_id, exc)
        except Exception:
            log.exception("task %s record %s not submitted now; the sweeper will", name, record_id)

    on_commit(session, send)


_QUEUED_HERE = "petition_tasks_queued"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(_QUEUED_HERE, None)


def submit_now(name: str, **kwargs: Any) -> None:
    """Submit a task immediately, outside any transaction (schedulers and the CLI)."""
    get_runner().submit(name, kwargs)


class EmbeddedScheduler:
    """Submit tasks on fixed intervals from a daemon thread (Celery beat's role in the embedded mode)."""

    def __init__(self, schedule: dict[str, float], runner: Runner | None = None):
        self.schedule = schedule
        self.runner = runner
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start submitting; the first round runs at once."""
        self._thread = threading.Thread(target=self._loop, name="petition-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = {name: 0.0 for name in self.schedule}
        while not self._stop.is_set():
            now = time.monotonic()
            for name, interval in self.schedule.items():
                if now >= next_at[name]:
                    next_at[name] = now + interval
                    try:
                        (self.runner or get_runner()).submit(name, {})
                    except Exception:
                        log.exception("scheduled task %s could not be submitted", name)
            self._stop.wait(min(self.schedule.values(), default=60.0) / 4)

    def stop(self) -> None:
        """Stop submitting and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@task("core.sweep_tasks", max_retries=0)
def sweep_tasks() -> dict:
    """Resubmit tasks whose message was lost (broker restart, killed worker) and purge old done records."""
    settings, db, runner = get_settings(), get_database(), get_runner()
    waiting = runner.pending()
    # The sweep itself is one of the embedded runner's pending tasks.
    idle = waiting is not None and waiting <= (1 if isinstance(runner, EmbeddedRunner) else 0)
    with db.session() as session:
        rows = [(r.id, r.name, dict(r.kwargs or {})) for r in taskstore.list_overdue(
            session, now=utcnow(), grace=timedelta(seconds=settings.task_resubmit_after),
            include_queued=idle, limit=settings.task_sweep_batch)]
    sent: list[int] = []
    for record_id, name, kwargs in rows:
        if name not in _registry:
            continue
        try:
            runner.submit(name, {**kwargs, RECORD_KEY: record_id})
        except Exception:
            log.warning("sweeper could not submit task record %s; broker still down?", record_id)
            break
        sent.append(record_id)
    with db.transaction() as session:
        taskstore.mark_submitted(session, sent)
        purged = taskstore.purge_done(session, older_than=timedelta(days=settings.task_done_retention_days))
    if sent:
        log.warning("sweeper resubmitted %d task(s) whose message was lost", len(sent))
    return {"resubmitted": len(sent), "purged": purged, "queue_idle": idle}
