"""Structured logs: JSON lines with a request id and the task, text in development, secrets redacted, access lines."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from pydantic import ValidationError

from core.logging import ContextFilter, JsonFormatter, RedactSecrets, TextFormatter, configure_logging, request_id, task_context
from core.settings import Settings
from server.app import create_app

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def lines():
    """Capture the JSON lines of the loggers a test names, formatted exactly as the root handler formats them."""
    stream, handler, loggers = io.StringIO(), logging.StreamHandler(), []
    handler.stream = stream
    handler.addFilter(RedactSecrets())
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())

    def capture(*names: str):
        for name in names:
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            loggers.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
        return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]

    yield capture
    for logger, level in loggers:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_json_line_has_the_fields_the_task_and_no_secrets(lines):
    read = lines("tests.logging.json")
    log = logging.getLogger("tests.logging.json")
    with task_context("cases.scan_deadlines", "c0ffee-1"):
        try:
            raise RuntimeError("cannot reach postgresql+psycopg://petition:hunter2@db.internal/petition")
        except RuntimeError:
            log.exception("scan failed, password=hunter2")
    log.info("routed %s", "XF-20250101-000001", extra={"unit": "YL-GOV"})
    failed, routed = read()
    assert failed["level"] == "ERROR" and failed["logger"] == "tests.logging.json"
    assert failed["message"] == "scan failed, password=***"
    assert failed["task"] == "cases.scan_deadlines" and failed["task_id"] == "c0ffee-1"
    assert failed["request_id"] is None
    assert "RuntimeError" in failed["exc_info"] and "Traceback" in failed["exc_info"]
    assert "hunter2" not in json.dumps(failed, ensure_ascii=False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", failed["ts"])
    assert abs(datetime.fromisoformat(failed["ts"].replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds() < 60
    assert routed["message"] == "routed XF-20250101-000001" and routed["unit"] == "YL-GOV"
    assert "task" not in routed and "exc_info" not in routed  # the task ended with its block


def test_text_in_development_json_elsewhere():
    assert Settings(environment="development").log_format == "text"
    assert Settings(environment="test").log_format == "json"
    assert Settings(environment="development", log_format="json").log_format == "json"
    with pytest.raises(ValidationError):
        Settings(log_format="xml")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)) \
        if any(isinstance(f, RedactSecrets) for h in root.handlers for f in h.filters) else None
    previous = (handler.formatter if handler else None, root.level)
    try:
        configure_logging(Settings(environment="development", log_level="WARNING"))
        ours = [h for h in root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, TextFormatter) and root.level == logging.WARNING
        assert any(isinstance(f, ContextFilter) for f in ours[0].filters)
        configure_logging(Settings(environment="test"))
        assert [h for h in root.handlers if h in ours] == ours and isinstance(ours[0].formatter, JsonFormatter)
        record = logging.LogRecord("petition.access", logging.INFO, __file__, 1, "GET /healthz 200", None, None)
        record.request_id = "req-1"
        assert TextFormatter().format(record).endswith("INFO petition.access [req-1]: GET /healthz 200")
    finally:
        if handler is None:
            for h in [h for h in root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]:
                root.removeHandler(h)
        else:
            handler.setFormatter(previous[0])
        root.setLevel(previous[1])


@pytest.fixture
def client(db, settings):
    app = create_app(settings)
    log = logging.getLogger("tests.logging.route")

    @app.get("/tests/logging")
    def inside() -> dict:
        log.warning("inside the request")  # a sync route: the id travels into the thread pool
        return {"request_id": request_id()}

    @app.get("/tests/stream")
    def stream() -> StreamingResponse:
        def chunks():
            for n in range(3):
                yield f"data: {n}\n\n"
                time.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_request_id_is_taken_when_well_formed_else_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "gw-2025.01_a-b"})
    assert given.headers["x-request-id"] == "gw-2025.01_a-b"
    for bad in ["has space", "x" * 65, "", "\xfcnicode".encode("latin-1"), "a/b", "<script>"]:
        r = client.get("/healthz", headers={"X-Request-ID": bad})
        assert HEX_ID.match(r.headers["x-request-id"]), bad
    first, second = client.get("/healthz"), client.get("/healthz")
    assert HEX_ID.match(first.headers["x-request-id"]) and first.headers["x-request-id"] != second.headers["x-request-id"]
    inside = client.get("/tests/logging", headers={"X-Request-ID": "req-42"})
    assert inside.json() == {"request_id": "req-42"} and request_id() is None  # nothing leaks out of the request
    streamed = client.get("/tests/stream", headers={"X-Request-ID": "sse-1"})
    assert streamed.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n" and streamed.headers["x-request-id"] == "sse-1"


def test_one_access_line_per_request_with_the_route_template_and_no_query(client, lines):
    read = lines("petition.access", "tests.logging.route")
    r = client.get("/api/v1/petitions/XF-20250101-000001?token=s3cr3t-t0ken", headers={"X-Request-ID": "req-7"})
    assert r.status_code == 401
    client.get("/tests/logging", headers={"X-Request-ID": "req-8"})
    client.post("/api/v1/chat", json={"text": "我的身份证号是430104199001011234"}, headers={"X-Request-ID": "req-9"})
    client.get("/healthz", headers={"X-Request-ID": "req-10"})
    access = [e for e in read() if e["logger"] == "petition.access"]
    by_id = {e["request_id"]: e for e in access}
    assert len(access) == 4 and set(by_id) == {"req-7", "req-8", "req-9", "req-10"}
    petition = by_id["req-7"]
    assert (petition["method"], petition["route"], petition["status"]) == ("GET", "/api/v1/petitions/{tracking_no}", 401)
    assert petition["level"] == "INFO" and isinstance(petition["duration_ms"], float)
    assert petition["message"].startswith("GET /api/v1/petitions/{tracking_no} 401 ")
    assert (by_id["req-9"]["route"], by_id["req-9"]["status"]) == ("/api/v1/chat", 422)
    assert by_id["req-10"]["level"] == "DEBUG"  # probes and scrapes stay out of the INFO stream
    everything = json.dumps(read(), ensure_ascii=False)
    assert "s3cr3t" not in everything and "XF-20250101" not in everything and "430104199001011234" not in everything
    [inside] = [e for e in read() if e["logger"] == "tests.logging.route"]
    assert inside["request_id"] == "req-8" and inside["message"] == "inside the request"
