"""Logging set-up: JSON lines (or text in development), a request id on every record, secrets kept out."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings

_SECRET_PATTERNS = [
    # Authorization headers as text ("Authorization: Bearer x") and as a dict's repr ('Authorization': 'Basic x').
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+)[\w\-.~+/]+=*"),
    # key=value and key: value, also quoted as in a repr or JSON: password='x', "api_key": "x", secret=x&next=.
    re.compile(r"(?i)((?:password|passwd|token|secret|api_?key|aes_?key|session_?key|pii_key|secret_key)['\"]?"
               r"\s*[=:]\s*)(?:SecretStr\([^)]*\)|'[^']*'|\"[^\"]*\"|[^\s&,;'\")]+)"),
    # A password in any URL's user part: postgresql://u:pw@, redis://:pw@, amqp://u:pw@.
    re.compile(r"(?i)([a-z][a-z0-9+.\-]*://[^:/@\s'\"]*:)[^@\s'\"]+(@)"),
]
# Attributes every LogRecord has; other string attributes came from `extra=` and are redacted too.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Return text with bearer and basic credentials, passwords, tokens, keys and URL passwords replaced by ***."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex and m.lastindex > 1 else ""), text)
    return text


class RedactSecrets(logging.Filter):
    """Replace bearer tokens, passwords and database passwords in log messages and their extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key, value in vars(record).items():
            if isinstance(value, str) and key not in _STANDARD_ATTRIBUTES:
                setattr(record, key, redact(value))
        return True


# ---- request and task context ---------------------------------------------------------------------------

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_HEADER = b"x-request-id"
_request_id: ContextVar[str | None] = ContextVar("petition_request_id", default=None)
_task: ContextVar[tuple[str, str | None] | None] = ContextVar("petition_task", default=None)
access_log = logging.getLogger("petition.access")
# Probes and scrapes arrive every few seconds: their access lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/metrics", "/healthz"})


def request_id() -> str | None:
    """Return the id of the request being handled, or None outside a request."""
    return _request_id.get()


def set_task(name: str | None, task_id: str | None = None) -> None:
    """Mark the records logged from here on in this context as a task's (None clears it)."""
    _task.set((name, task_id) if name else None)


@contextlib.contextmanager
def task_context(name: str, task_id: str | None = None) -> Iterator[None]:
    """Mark the records logged inside the block as belonging to one run of a task."""
    token = _task.set((name, task_id))
    try:
        yield
    finally:
        _task.reset(token)


class ContextFilter(logging.Filter):
    """Stamp each record with the current request id and, inside a task, the task's name and id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        task = _task.get()
        if task is not None and getattr(record, "task", None) is None:
            record.task, record.task_id = task
        return True


def _redacted(text: str) -> str:
    # Tracebacks quote URLs and arguments too; the same patterns as RedactSecrets apply.
    return redact(text)


# Attributes every LogRecord has; anything else on a record came from `extra=` and goes into the JSON line
# (but uvicorn's terminal-coloured copy of its message).
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "task", "task_id", "context", "color_message"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: ts (ISO-8601 UTC), level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                 "request_id": getattr(record, "request_id", None)}
        if getattr(record, "task", None):
            entry["task"], entry["task_id"] = record.task, getattr(record, "task_id", None)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = _redacted(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = _redacted(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The development format: time, level, logger, [request id or task], message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of text (tracebacks below it)."""
        marks = [m for m in (getattr(record, "request_id", None), getattr(record, "task", None)) if m]
        record.context = f" [{' '.join(marks)}]" if marks else ""
        return super().format(record)

    def formatException(self, ei) -> str:
        """Return the traceback with secrets redacted."""
        return _redacted(super().formatException(ei))


def configure_logging(settings: Settings) -> None:
    """Configure the root logger: one handler with redaction, request context and the configured format."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.addFilter(RedactSecrets())
        root.addHandler(handler)
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.setLevel(settings.log_level)
    # Client libraries log every outbound URL at INFO, WeChat's access_token in the query string included:
    # their warnings are enough.
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


# ---- the request id middleware ------------------------------------------------------------------------

def incoming_request_id(scope: Scope) -> str | None:
    """Return the caller's X-Request-ID when it is well-formed (1-64 of A-Z a-z 0-9 . _ -), else None."""
    for name, value in scope.get("headers") or ():
        if name.lower() == REQUEST_ID_HEADER:
            with contextlib.suppress(UnicodeDecodeError):
                text = value.decode("ascii")
                if REQUEST_ID.fullmatch(text):
                    return text
            return None
    return None


class RequestContext:
    """Give every request an id (the caller's X-Request-ID if well-formed), echo it and log one access line.

    Pure ASGI rather than BaseHTTPMiddleware, which would buffer streaming responses and server-sent events.
    The access line holds the method, the route template, the status, the duration and the id: never the
    query string (tokens travel there) and never a body.
    """

    def __init__(self, app: ASGIApp, router=None):
        self.app, self.router = app, router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or uuid.uuid4().hex
        token = _request_id.set(rid)
        start, status, root_path = time.perf_counter(), 500, scope.get("root_path", "")

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            try:
                self._log(scope, root_path, status, (time.perf_counter() - start) * 1000, rid)
            finally:
                _request_id.reset(token)

    def _log(self, scope: Scope, root_path: str, status: int, duration_ms: float, rid: str) -> None:
        from core.metrics import method_label, route_template

        method = method_label(scope) if scope["type"] == "http" else "WS"
        route = route_template(scope, self.router, root_path)
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        if access_log.isEnabledFor(level):
            access_log.log(level, "%s %s %s %.1fms", method, route, status, duration_ms,
                           extra={"method": method, "route": route, "status": status,
                                  "duration_ms": round(duration_ms, 1), "request_id": rid})
