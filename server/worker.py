"""The Celery worker entry point: ``celery -A server.worker:app worker`` or ``petition worker``."""

from __future__ import annotations

from core import db as core_db
from core import security
from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.settings import configure as configure_settings
from core.tasks import configure_runner, make_celery
from server.models_registry import load_models, load_tasks

# Periodic tasks and their intervals in seconds: Celery beat runs them, or the embedded scheduler.
SCHEDULE = {"cases.scan_deadlines": 300.0, "risk.surveillance": 3600.0, "mediation.send_reminders": 60.0,
            "knowledge.harvest_replies": 3600.0}


def make_worker_app(settings: Settings | None = None):
    """Configure the process for task work and return its Celery app."""
    settings = configure_settings(settings or get_settings())
    configure_logging(settings)
    security.configure(settings)
    load_models()
    load_tasks()
    core_db.configure(settings)
    configure_runner(settings)
    app = make_celery(settings)
    app.conf.beat_schedule = {
        name: {"task": name, "schedule": interval, "options": {"queue": settings.task_queue}}
        for name, interval in SCHEDULE.items()
    }
    return app


def __getattr__(name: str):
    # `celery -A server.worker:app` asks for the attribute only in a worker process.
    if name == "app":
        return make_worker_app()
    raise AttributeError(name)
