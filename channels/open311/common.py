"""What the Open311 modules share: the channel, the specification's error, and local time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cases.enums import Channel
from core.settings import get_settings

CHANNEL = Channel.OPEN311


class Open311Error(Exception):
    """A request refused in the specification's terms: the HTTP status and descriptions meant for the user."""

    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions)


def shown(value: str, limit: int = 80) -> str:
    """Quote a client's value in an error message, cut short."""
    value = value.strip()
    return repr(value if len(value) <= limit else value[:limit] + "…")


def local(dt: datetime) -> datetime:
    """Return a datetime in the configured timezone."""
    return dt.astimezone(ZoneInfo(get_settings().timezone))
