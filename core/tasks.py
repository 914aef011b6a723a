"""The task runner: one API, two modes.

``PETITION_BROKER_URL`` unset runs tasks on a small in-process thread pool (the embedded default);
set, tasks go to Celery on that broker and ``petition worker`` runs them. Tasks take ids and plain
values, open their own transaction and must be idempotent: Celery acknowledges late, so a task may
run again after a worker crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.events import on_commit
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: Callable[..., Any]
    max_retries: int
    retry_backoff: float


_registry: dict[str, TaskSpec] = {}


def task(name: str, *, max_retries: int = 5, retry_backoff: float = 2.0) -> Callable:
    """Register a function as a task under a stable name."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _registry[name] = TaskSpec(name, fn, max_retries, retry_backoff)
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


class Runner(Protocol):
    def submit(self, name: str, kwargs: dict[str, Any]) -> None: ...


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

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def _run(self, spec: TaskSpec, kwargs: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            try:
                return spec.fn(**kwargs)
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


class CeleryRunner:
    """Send tasks by name to Celery workers."""

    def __init__(self, settings: Settings):
        self.app = make_celery(settings)
        self.queue = settings.task_queue

    def submit(self, name: str, kwargs: dict[str, Any]) -> None:
        """Send a registered task by name to the broker."""
        _spec(name)
        self.app.send_task(name, kwargs=kwargs, queue=self.queue)


def make_celery(settings: Settings):
    """Build a Celery app that knows every registered task (late ack, retries with backoff)."""
    from celery import Celery

    app = Celery("petition", broker=settings.broker_url, backend=settings.broker_url)
    app.conf.update(
        task_default_queue=settings.task_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        timezone=settings.timezone,
        enable_utc=True,
    )
    for spec in _registry.values():
        _register_celery_task(app, spec)
    return app


def _register_celery_task(app, spec: TaskSpec) -> None:
    @app.task(
        name=spec.name,
        bind=True,
        acks_late=True,
        autoretry_for=(Exception,),
        max_retries=spec.max_retries,
        retry_backoff=spec.retry_backoff,
        retry_backoff_max=600,
        retry_jitter=True,
    )
    def run(self, **kwargs):
        return spec.fn(**kwargs)


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
        from core.settings import get_settings

        return configure_runner(get_settings())
    return _runner


def enqueue(session: Session, name: str, **kwargs: Any) -> None:
    """Queue a task to be submitted once the session commits."""
    _spec(name)
    on_commit(session, lambda: get_runner().submit(name, kwargs))


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
