"""Rate limits on the public endpoints (core/ratelimit.py): 429 with Retry-After per address and group, counts
shared through Redis, WebSocket frames counted with the HTTP chat, signed webhooks never limited per address."""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from core import ratelimit
from server.app import create_app

REDIS_URL = os.environ.get("PETITION_TEST_REDIS", "redis://127.0.0.1:6379/14")
# Rate limits do not touch the database: SQLite is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
CITIZEN = ("203.0.113.7", 40001)
NEIGHBOUR = ("198.51.100.9", 40002)


@pytest.fixture
def limited(db, settings):
    """Return a function that builds the app with these limits turned on and a client from an address."""
    clients = []

    def make(*, address=CITIZEN, app=None, **limits):
        if app is None:
            app = create_app(settings.model_copy(update={"rate_limit_enabled": True, **limits}))
        client = TestClient(app, raise_server_exceptions=False, client=address)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def chat(client, text="你好"):
    return client.post("/api/v1/chat", json={"conversation_id": "conv-" + uuid.uuid4().hex[:12],
                                             "message_id": uuid.uuid4().hex, "text": text})


@sqlite_only
def test_a_burst_over_the_limit_gets_429_and_other_addresses_are_unaffected(limited):
    citizen = limited(rate_limit_chat=3)
    for _ in range(3):
        assert chat(citizen).status_code == 200
    refused = chat(citizen)
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60 and refused.json()["retry_after"] == wait
    assert "请求过于频繁" in refused.json()["detail"] and "Too many requests" in refused.json()["detail"]
    neighbour = limited(address=NEIGHBOUR, app=citizen.app)
    assert chat(neighbour).status_code == 200
    # Another group has its own count: the status page still opens for the citizen.
    assert citizen.get("/status").status_code == 200


@sqlite_only
def test_every_public_group_is_limited_and_pages_get_a_page(limited):
    client = limited(rate_limit_status=1, rate_limit_open311=1, rate_limit_miniprogram=1, rate_limit_mediation=1)
    html = {"Accept": "text/html,application/xhtml+xml"}
    assert client.get("/status", headers=html).status_code == 200
    page = client.post("/status", data={"tracking_no": "XF-20260101-000001", "code": "ABCD"}, headers=html)
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "请求过于频繁" in page.text and "Too many requests" in page.text and page.headers["retry-after"]

    # Open311 clients get the specification's error list, in the format they asked for.
    assert client.post("/open311/v2/requests.xml", data={"service_code": "x"}).status_code != 429
    refused = client.post("/open311/v2/requests.xml", data={"service_code": "x"})
    assert refused.status_code == 429 and refused.headers["retry-after"]
    error = ET.fromstring(refused.content).find("error")
    assert error.findtext("code") == "429" and "Too many requests" in error.findtext("description")

    for path in ("/api/v1/miniprogram/login", "/mediation/join/not-a-token/confirm"):
        assert client.post(path, json={"code": "0" * 32}).status_code != 429, path
        refused = client.post(path, json={"code": "0" * 32})
        assert refused.status_code == 429 and refused.headers["retry-after"], path


@sqlite_only
def test_signed_webhooks_and_staff_routes_are_not_limited_per_address(limited):
    client = limited(rate_limit_chat=1, rate_limit_status=1, rate_limit_open311=1, rate_limit_miniprogram=1,
                     rate_limit_mediation=1)
    for _ in range(3):
        assert client.post("/channels/sms", data={"Body": "hi"}).status_code != 429
        assert client.post("/channels/wechat", content=b"<xml/>").status_code != 429
        assert client.get("/api/v1/petitions").status_code == 401


@sqlite_only
def test_websocket_frames_count_with_the_http_chat(limited):
    client = limited(rate_limit_chat=2)
    conversation = "ws-" + uuid.uuid4().hex[:12]
    assert chat(client).status_code == 200
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "message", "conversation_id": conversation, "message_id": "m-00000001", "text": "你好"})
        frames = [ws.receive_json()]
        while frames[-1]["type"] != "replies":
            frames.append(ws.receive_json())
        ws.send_json({"type": "message", "conversation_id": conversation, "message_id": "m-00000002", "text": "在吗"})
        refused = ws.receive_json()
    assert refused["type"] == "error" and refused["status"] == 429 and refused["in_reply_to"] == "m-00000002"
    assert refused["retry_after"] >= 1 and "请求过于频繁" in refused["detail"]


@sqlite_only
def test_limits_off_and_zero_groups_let_everything_through(limited, settings):
    assert ratelimit.from_settings(settings) is None  # the test settings turn them off
    client = limited(rate_limit_status=0)
    assert all(client.get("/status").status_code == 200 for _ in range(5))


def test_memory_windows_end_and_stay_bounded():
    now = [1000.0]
    counter = ratelimit.MemoryCounter(max_keys=4, clock=lambda: now[0])
    limiter = ratelimit.RateLimiter(limits={"chat": 2}, window_s=10, counter=counter)
    assert [limiter.check(group="chat", client="a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.check(group="chat", client="a").retry_after == 10
    now[0] += 10.5
    assert limiter.check(group="chat", client="a").allowed
    for n in range(20):  # an address scan does not grow the table without bound
        limiter.check(group="chat", client=f"2001:db8::{n}")
    assert len(counter._windows) <= 4


def _redis_limiter(prefix: str) -> ratelimit.RateLimiter:
    return ratelimit.RateLimiter(limits={"chat": 4}, window_s=30,
                                 counter=ratelimit.RedisCounter(REDIS_URL, prefix=prefix))


@pytest.mark.redis
def test_redis_counts_are_shared_between_processes():
    import redis

    prefix = f"petition-test:{uuid.uuid4().hex}:"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("PETITION_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    first, second = _redis_limiter(prefix), _redis_limiter(prefix)  # as two worker processes would build them
    try:
        seen = [first.check(group="chat", client="203.0.113.7").allowed,
                second.check(group="chat", client="203.0.113.7").allowed,
                first.check(group="chat", client="203.0.113.7").allowed,
                second.check(group="chat", client="203.0.113.7").allowed]
        refused = second.check(group="chat", client="203.0.113.7")
        assert seen == [True] * 4 and not refused.allowed and refused.count == 5 and 1 <= refused.retry_after <= 30
        assert first.check(group="chat", client="198.51.100.9").allowed
        assert 0 < first.counter.client.ttl(prefix + "chat:203.0.113.7") <= 30
    finally:
        keys = first.counter.client.keys(prefix + "*")
        if keys:
            first.counter.client.delete(*keys)


def test_an_unreachable_redis_lets_requests_through(caplog):
    limiter = ratelimit.RateLimiter(limits={"chat": 1}, window_s=30,
                                    counter=ratelimit.RedisCounter("redis://127.0.0.1:1/0", timeout_s=0.2))
    assert all(limiter.check(group="chat", client="a").allowed for _ in range(3))
    assert "rate limit counter unavailable" in caplog.text
