"""Import every package's tables and tasks so that metadata and the task registry are complete."""

from __future__ import annotations

import importlib

from core.db import Base

MODEL_MODULES = ["core.accounts", "core.taskstore", "cases.models", "bot.models", "channels.models",
                 "routing.models", "cases.handling.models", "cases.importing.models", "risk.models", "admin_web.models",
                 "mediation.models", "knowledge.models"]
TASK_MODULES = ["cases.tasks", "routing.tasks", "channels.tasks", "channels.wechat.adapter", "channels.sms.adapter", "risk.tasks",
                "mediation.tasks", "knowledge.tasks"]


def load_models():
    """Import all model modules and return the shared metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def load_tasks() -> None:
    """Import all task modules so that their tasks are registered."""
    for name in TASK_MODULES:
        importlib.import_module(name)
