"""Logging set-up: one format, and secrets kept out of every record."""

from __future__ import annotations

import logging
import re

from core.settings import Settings

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*bearer\s+)[\w\-.~+/]+=*"),
    re.compile(r"(?i)((?:password|token|secret|pii_key|secret_key)\s*[=:]\s*)\S+"),
    re.compile(r"(postgresql(?:\+\w+)?://[^:/@\s]+:)[^@\s]+(@)"),
]


class RedactSecrets(logging.Filter):
    """Replace bearer tokens, passwords and database passwords in log messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern in _SECRET_PATTERNS:
            redacted = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex and m.lastindex > 1 else ""),
                                   redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(settings: Settings) -> None:
    """Configure the root logger once."""
    root = logging.getLogger()
    if any(isinstance(f, RedactSecrets) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
