"""The Celery worker entry point: ``celery -A server.worker:app worker`` or ``petition worker``."""

from __future__ import annotations

from core import db as core_db
from core import security
from core.logging import configure_logging, set_task
from core.metrics import start_worker_metrics
from core.settings import Settings, get_settings
from core.settings import configure as configure_settings
from core.tasks import CeleryRunner, configure_runner, make_celery
from server.models_registry import load_models, load_tasks

# Periodic tasks and their intervals in seconds: Celery beat runs them, or the embedded scheduler.
SCHEDULE = {"cases.scan_deadlines": 300.0, "risk.surveillance": 3600.0, "mediation.send_reminders": 60.0,
            "knowledge.harvest_replies": 3600.0, "core.sweep_tasks": 60.0}


def make_worker_app(settings: Settings | None = None):
    """Configure the process for task work and return its Celery app."""
    settings = configure_settings(settings or get_settings())
    configure_logging(settings)
    security.configure(settings)
    load_models()
    load_tasks()
    core_db.configure(settings)
    runner = configure_runner(settings)
    # One Celery app per process: the runner's (tasks this worker queues go through it too).
    app = runner.app if isinstance(runner, CeleryRunner) else make_celery(settings)
    _connect_signals()
    if settings.worker_metrics_port:
        start_worker_metrics(settings)
    app.conf.beat_schedule = {
        name: {"task": name, "schedule": interval, "options": {"queue": settings.task_queue}}
        for name, interval in {**SCHEDULE, "core.sweep_tasks": float(settings.task_sweep_interval)}.items()
    }
    return app


def _connect_signals() -> None:
    from celery import signals

    # A receiver here stops Celery from replacing the root handler: logs stay JSON lines with redaction.
    signals.setup_logging.connect(_keep_logging, weak=False, dispatch_uid="petition-logging")
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="petition-task-started")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="petition-task-finished")


def _keep_logging(**_kwargs) -> None:
    pass


def _task_started(task_id=None, task=None, **_kwargs) -> None:
    set_task(getattr(task, "name", None) or "unknown", task_id)


def _task_finished(**_kwargs) -> None:
    set_task(None)


def __getattr__(name: str):
    # `celery -A server.worker:app` asks for the attribute only in a worker process.
    if name == "app":
        return make_worker_app()
    raise AttributeError(name)
