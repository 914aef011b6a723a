"""Prometheus metrics at /metrics: requests by route template, tasks, queue depth, backlog, model latency, the worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from channels.models import InboxMessage, OutboxMessage
from core import metrics, tasks
from core.db import utcnow
from core.settings import ROOT
from core.settings import configure as configure_settings
from server.app import create_app
from tests.conftest import REDIS_URL, REQUIRE_SERVICES


@pytest.fixture
def client(db, settings):
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def scrape(client, **headers) -> str:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return r.text


def value(text: str, name: str, **labels: str) -> float:
    """Return one sample of a scrape (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def series(text: str, name: str) -> list[dict]:
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_requests_are_counted_by_route_template_never_by_raw_path(client):
    before = scrape(client)
    numbers = [f"XF-20250101-{n:06d}" for n in range(3)]
    for number in numbers:
        assert client.get(f"/api/v1/petitions/{number}?token=abc").status_code == 401
    assert client.get(f"/no/such/page/{uuid.uuid4().hex}").status_code == 404
    assert client.get("/static/webchat/chat.css").status_code == 200
    assert client.post("/api/v1/chat", content=b"x" * 1_100_000).status_code == 413  # refused before routing
    after = scrape(client)

    def delta(route: str, status: str, method: str = "GET") -> float:
        labels = {"method": method, "route": route, "status": status}
        return value(after, "petition_http_requests_total", **labels) - value(before, "petition_http_requests_total", **labels)

    assert delta("/api/v1/petitions/{tracking_no}", "4xx") == 3
    assert delta("unmatched", "4xx") == 1
    assert delta("/static/webchat/{path}", "2xx") == 1
    assert delta("/api/v1/chat", "4xx", method="POST") == 1
    routes = {labels["route"] for labels in series(after, "petition_http_requests_total")}
    assert not any("XF-" in r or "chat.css" in r or "/no/such" in r for r in routes), routes
    assert value(after, "petition_http_request_duration_seconds_count", method="GET",
                 route="/api/v1/petitions/{tracking_no}", status="4xx") >= 3
    assert value(after, "petition_http_requests_in_flight") == 1  # the scrape itself


def test_record_task_is_read_back_from_the_endpoint(client):
    name = f"tests.metrics.{uuid.uuid4().hex[:8]}"
    metrics.record_task(name, "ok", 0.25)
    metrics.record_task(name, "ok", 0.5)
    metrics.record_task(name, "retry", 2.0)
    metrics.record_task(name, "dead", 40.0)
    text = scrape(client)
    assert value(text, "petition_tasks_total", task=name, outcome="ok") == 2
    assert value(text, "petition_tasks_total", task=name, outcome="retry") == 1
    assert value(text, "petition_tasks_total", task=name, outcome="dead") == 1
    assert value(text, "petition_task_duration_seconds_sum", task=name, outcome="ok") == pytest.approx(0.75)
    assert value(text, "petition_task_duration_seconds_bucket", task=name, outcome="dead", le="60.0") == 1
    assert value(text, "petition_task_duration_seconds_bucket", task=name, outcome="dead", le="30.0") == 0
    with pytest.raises(ValueError, match="outcome"):
        metrics.record_task(name, "maybe", 1.0)


_held = {"release": threading.Event()}


def _hold() -> None:
    _held["release"].wait(10)


def test_embedded_queue_depth_and_backlog_are_read_at_scrape_time(client, db):
    release = _held["release"] = threading.Event()
    name = "tests.metrics.hold"
    if name not in tasks.registered():
        tasks.task(name, max_retries=0)(_hold)
    runner = tasks.get_runner()
    try:
        for _ in range(3):
            runner.submit(name, {})
        text = scrape(client)
        assert value(text, "petition_task_queue_depth", queue="petition", mode="embedded") == 3
    finally:
        release.set()
    assert runner.join(10)
    assert value(scrape(client), "petition_task_queue_depth", queue="petition", mode="embedded") == 0

    now = utcnow()
    with db.transaction() as s:
        for n, status in enumerate(["received", "received", "failed", "processed"]):
            s.add(InboxMessage(channel="webchat", platform_msg_id=f"m-{n}", sender="someone", status=status, received_at=now))
        for status in ["pending", "failed", "failed", "sent", "delivered"]:
            s.add(OutboxMessage(channel="webchat", recipient="someone", text="好的", status=status, created_at=now))
    text = scrape(client)
    assert value(text, "petition_inbox_backlog", status="received") == 2
    assert value(text, "petition_inbox_backlog", status="failed") == 1
    assert value(text, "petition_outbox_backlog", status="pending") == 1
    assert value(text, "petition_outbox_backlog", status="failed") == 2


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def test_celery_queue_depth_comes_from_the_broker_and_a_dead_broker_does_not_fail_the_scrape(db, settings):
    if not _redis_up():
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    queue = f"petition-test-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(REDIS_URL)
    broker.rpush(queue, "a", "b", "c")
    broker.rpush(f"{queue}\x06\x163", "d")  # a prioritised message sits in kombu's sibling list
    try:
        configure_settings(settings.model_copy(update={"broker_url": REDIS_URL, "task_queue": queue}))
        text = metrics.render()[0].decode()
        assert value(text, "petition_task_queue_depth", queue=queue, mode="celery") == 4
        assert value(text, "petition_task_queue_reachable", queue=queue) == 1
        configure_settings(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0", "task_queue": queue}))
        text = metrics.render()[0].decode()
        assert value(text, "petition_task_queue_reachable", queue=queue) == 0
        assert not [s for s in series(text, "petition_task_queue_depth") if s["queue"] == queue]
        assert "petition_inbox_backlog" in text  # the rest of the scrape is still there
    finally:
        broker.delete(queue, f"{queue}\x06\x163")
        configure_settings(settings)


def test_a_metrics_token_is_required_when_set_and_metrics_can_be_off(db, settings):
    guarded = create_app(settings.model_copy(update={"metrics_token": SecretStr("scrape-token-1234567890")}))
    with TestClient(guarded) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-token-1234567890"}).status_code == 200
    assert "/metrics" not in guarded.openapi()["paths"]  # not an API for the schema tests to explore
    off = create_app(settings.model_copy(update={"metrics_enabled": False}))
    with TestClient(off) as c:
        assert c.get("/metrics").status_code == 404
    configure_settings(settings)


def test_model_calls_are_timed(client):
    from nlu.embeddings import LexicalEmbedder

    before = scrape(client)
    assert client.post("/api/v1/chat", json={"conversation_id": uuid.uuid4().hex, "message_id": uuid.uuid4().hex,
                                             "text": "我要投诉，小区物业乱收费"}).status_code == 200
    LexicalEmbedder().embed(["小区物业乱收费", "工地夜间施工"], kind="query")
    after = scrape(client)
    for model, backend in [("intent", "linear"), ("embedder", "lexical")]:
        grew = value(after, "petition_model_latency_seconds_count", model=model, backend=backend) - \
            value(before, "petition_model_latency_seconds_count", model=model, backend=backend)
        assert grew >= 1, (model, backend)


WORKER = """
import multiprocessing, sys
import httpx
from core import metrics
from core.settings import Settings

def pool_process():
    metrics.record_task("tests.worker.child", "ok", 0.5)

child = multiprocessing.get_context("fork").Process(target=pool_process)
child.start()
child.join()
metrics.record_task("tests.worker.parent", "retry", 1.0)
port = int(sys.argv[1])
assert metrics.start_worker_metrics(Settings(environment="test", worker_metrics_port=port))
assert metrics.start_worker_metrics(Settings(environment="test", worker_metrics_port=port))  # once per process
print(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
"""


def test_the_worker_serves_the_metrics_of_its_pool_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # As `petition worker` sets it up: prometheus_client in multiprocess mode, chosen before its first import.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WORKER, str(port)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert value(done.stdout, "petition_tasks_total", task="tests.worker.child", outcome="ok") == 1
    assert value(done.stdout, "petition_tasks_total", task="tests.worker.parent", outcome="retry") == 1
