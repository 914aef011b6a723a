"""The database or the broker going away while messages arrive: fast 503s, nothing acknowledged is lost, recovery by itself."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core import tasks
from core.settings import configure as configure_settings
from core.taskstore import TaskRecord
from server.app import create_app
from tests.conftest import REDIS_URL, TESTS, load_by_path, require_redis

ADMIN_TOKEN = "outage-test-admin-token-0123456789"


TcpProxy = load_by_path("tcp_proxy", TESTS / "reliability" / "tcp_proxy.py").TcpProxy


def _chat(client, conversation: str, message_id: str, text: str):
    started = time.monotonic()
    r = client.post("/api/v1/chat", json={"conversation_id": conversation, "message_id": message_id, "text": text,
                                          "locale": "zh-CN"})
    return r, time.monotonic() - started


def test_database_outage_answers_503_fast_and_recovers_by_itself(db, settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("an SQLite file cannot go away; this is the PostgreSQL deployment's test")
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    live = settings.model_copy(update={"database_url": proxied})
    conversation = f"outage-{uuid.uuid4().hex[:12]}"
    try:
        with TestClient(create_app(live), raise_server_exceptions=False) as client:
            for i, text in enumerate(["你好，我要反映问题", "小区门口的路灯坏了一个月"]):
                r, _ = _chat(client, conversation, f"message-{i}", text)
                assert r.status_code == 200, r.text
            proxy.cut()
            r, seconds = _chat(client, conversation, "message-2", "在岳麓区桃子湖路")
            assert r.status_code == 503 and r.headers.get("retry-after"), r.text
            assert seconds < 5, f"took {seconds:.1f}s to refuse"
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["database"] == "down"
            proxy.restore()
            # The widget retries the refused message with the same id: it is processed, once.
            for _ in range(20):
                r, _ = _chat(client, conversation, "message-2", "在岳麓区桃子湖路")
                if r.status_code == 200:
                    break
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            again, _ = _chat(client, conversation, "message-2", "在岳麓区桃子湖路")
            assert again.json()["replies"] == r.json()["replies"]
            history = client.get(f"/api/v1/chat/{conversation}/history").json()["messages"]
            inbound = [m["text"] for m in history if m["direction"] == "in"]
            assert inbound == ["你好，我要反映问题", "小区门口的路灯坏了一个月", "在岳麓区桃子湖路"]
            assert client.get("/healthz").status_code == 200
    finally:
        proxy.stop()
        configure_settings(settings)
        from core import db as core_db

        core_db.configure(settings)


def test_broker_outage_acknowledges_at_once_and_loses_no_task(db, settings):
    target = require_redis()
    redis_url = make_url(REDIS_URL)
    proxy = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379).start()
    queue = f"petition-outage-{uuid.uuid4().hex[:8]}"
    broker = f"redis://127.0.0.1:{proxy.port}/{redis_url.database or 0}"
    live = settings.model_copy(update={"broker_url": broker, "task_queue": queue, "route_on_register": True,
                                       "risk_on_register": True, "bootstrap_admin_token": SecretStr(ADMIN_TOKEN),
                                       "task_resubmit_after": 0})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"title": "夜间施工噪声扰民", "content": "岳麓区某工地每天夜里施工到凌晨两点，噪声很大。", "channel": "walk_in",
            "area_code": "430104", "petitioner": {"name": "李四", "phone": "13912345678"}}
    try:
        with TestClient(create_app(live), raise_server_exceptions=False) as client:
            assert client.post("/api/v1/petitions", json=body, headers=headers).status_code == 201
            assert target.llen(queue) == 2  # routing and risk, through the broker
            proxy.cut()
            slowest = 0.0
            for _ in range(3):
                started = time.monotonic()
                r = client.post("/api/v1/petitions", json=body, headers=headers)
                slowest = max(slowest, time.monotonic() - started)
                assert r.status_code == 201, r.text  # registered and acknowledged while the broker is down
            assert slowest < 5, f"a request took {slowest:.1f}s with the broker down"
            assert target.llen(queue) == 2
            with db.session() as s:
                assert s.scalar(select(func.count()).select_from(TaskRecord).where(TaskRecord.status == "queued")) == 8
            # The sweeper finds nothing to do while the broker is still down, and loses nothing.
            assert tasks.sweep_tasks()["resubmitted"] == 0
            proxy.restore()
            # Two tasks are still waiting in the queue: the sweeper waits for it to drain before it
            # decides that the other queued records lost their messages.
            assert tasks.sweep_tasks() == {"resubmitted": 0, "purged": 0, "queue_idle": False}
            target.delete(queue)  # drained (no worker in this test: the two messages are simply gone)
            assert tasks.sweep_tasks()["resubmitted"] == 8
            assert target.llen(queue) == 8
            assert tasks.sweep_tasks()["resubmitted"] == 0  # submitted once, not again each minute
    finally:
        proxy.stop()
        target.delete(queue)
        configure_settings(settings)
        from core import db as core_db

        core_db.configure(settings)
