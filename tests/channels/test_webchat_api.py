"""Web chat over HTTP and WebSocket: idempotent delivery, concurrency, bad input and the agent API."""

from __future__ import annotations

import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.models import ConversationMessage
from channels.models import InboxMessage, OutboxMessage
from core.accounts import create_token, create_user
from server.app import create_app


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def chat(client, conversation: str, text: str, message_id: str | None = None, locale: str = "zh-CN"):
    return client.post("/api/v1/chat", json={"conversation_id": conversation, "message_id": message_id or uuid.uuid4().hex,
                                             "text": text, "locale": locale})


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_page_and_static_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'lang="zh-CN"' in page.text
    assert client.get("/static/webchat/chat.css").status_code == 200


def test_same_message_id_twice_returns_the_same_replies(client, db):
    conv = uuid.uuid4().hex
    first = chat(client, conv, "我要投诉，小区物业乱收费", message_id="m-000001")
    assert first.status_code == 200 and first.json()["replies"]
    again = chat(client, conv, "我要投诉，小区物业乱收费", message_id="m-000001")
    assert again.json() == first.json()
    assert count(db, InboxMessage) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConversationMessage).where(
            ConversationMessage.direction == "in")) == 1
    assert count(db, OutboxMessage) == len(first.json()["replies"])


def test_concurrent_repeats_and_parallel_messages(client, db):
    conv = uuid.uuid4().hex
    results: list = []
    calls = [("我要投诉，工地夜间施工噪音很大", "dup-00000001")] * 3 + [("岳麓区", "other-0000001")]
    threads = [threading.Thread(target=lambda a=args: results.append((a[1], chat(client, conv, *a[:1], message_id=a[1]))))
               for args in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for _, r in results)
    assert count(db, InboxMessage) == 2
    with db.session() as s:
        inbound = s.scalars(select(ConversationMessage).where(ConversationMessage.direction == "in")).all()
        seqs = [m.seq for m in s.scalars(select(ConversationMessage)).all()]
    assert sorted(m.text for m in inbound) == sorted(["我要投诉，工地夜间施工噪音很大", "岳麓区"])
    assert len(seqs) == len(set(seqs)) == max(seqs)  # one gap-free sequence: nothing interleaved twice
    dup_answers = [r.json() for message_id, r in results if message_id == "dup-00000001"]
    assert dup_answers[0] == dup_answers[1] == dup_answers[2]


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "<img src=x onerror=alert(1)>", "' OR 1=1; DROP TABLE petitions; --",
                                  "投诉" * 5000])
def test_odd_messages_get_a_sensible_answer(client, db, text):
    conv = uuid.uuid4().hex
    r = chat(client, conv, text)
    assert r.status_code == 200, r.text
    replies = r.json()["replies"]
    assert replies and all(reply["text"].strip() for reply in replies)
    with db.session() as s:
        stored = s.scalar(select(InboxMessage.text))
    assert stored == text[:10_000]


def test_bad_requests_are_refused_clearly(client):
    for body in ({}, {"conversation_id": "short", "message_id": "x" * 10, "text": "hi"},
                 {"conversation_id": "c" * 10, "message_id": "../../etc", "text": "hi"},
                 {"conversation_id": "c" * 10, "message_id": "m" * 10, "text": "x" * 20_001},
                 {"conversation_id": "c" * 10, "message_id": "m" * 10, "text": 5}):
        r = client.post("/api/v1/chat", json=body)
        assert r.status_code == 422, (body, r.text)
    assert client.get("/api/v1/chat/bad id/history").status_code in (404, 422)
    assert client.get(f"/api/v1/chat/{uuid.uuid4().hex}/history").json() == {"messages": []}


def test_history_resumes_the_conversation(client):
    conv = uuid.uuid4().hex
    chat(client, conv, "你好")
    chat(client, conv, "我要投诉")
    messages = client.get(f"/api/v1/chat/{conv}/history").json()["messages"]
    assert [m["direction"] for m in messages] == ["in", "out", "in", "out"]
    assert [m["seq"] for m in messages] == [1, 2, 3, 4]
    later = client.get(f"/api/v1/chat/{conv}/history", params={"after": 2}).json()["messages"]
    assert [m["text"] for m in later][:1] == ["我要投诉"]


def test_websocket_hello_message_and_agent_push(client, db):
    conv = uuid.uuid4().hex
    with db.transaction() as s:
        token = create_token(s, user=create_user(s, username="agent1", password="agent-pass-1", role="agent"))
    headers = {"Authorization": f"Bearer {token}"}
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "hello", "conversation_id": conv, "locale": "zh-CN", "after": 0})
        assert ws.receive_json() == {"type": "history", "messages": []}
        ws.send_json({"type": "message", "conversation_id": conv, "message_id": "ws-0000001", "text": "转人工",
                      "locale": "zh-CN"})
        assert ws.receive_json()["type"] == "typing"
        replies = ws.receive_json()
        assert replies["type"] == "replies" and replies["in_reply_to"] == "ws-0000001"
        assert "人工" in replies["replies"][0]["text"]
        waiting = client.get("/api/v1/conversations", headers=headers).json()
        assert [c["mode"] for c in waiting] == ["waiting"]
        conversation_id = waiting[0]["id"]
        assert client.post(f"/api/v1/conversations/{conversation_id}/takeover", headers=headers).status_code == 200
        r = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=headers,
                        json={"text": "您好，我是工作人员小李。"})
        assert r.status_code == 200 and r.json()["mode"] == "agent"
        pushed = []
        while not any("小李" in m["text"] for m in pushed):
            frame = ws.receive_json()
            assert frame["type"] == "push"
            pushed += frame["messages"]
        assert any(m["author"] == "agent" for m in pushed)
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["type"] == "error"


def test_agent_api_rules(client, db):
    conv = uuid.uuid4().hex
    chat(client, conv, "转人工")
    with db.transaction() as s:
        a1 = create_token(s, user=create_user(s, username="a1", password="agent-pass-1", role="agent"))
        a2 = create_token(s, user=create_user(s, username="a2", password="agent-pass-2", role="agent"))
        analyst = create_token(s, user=create_user(s, username="an", password="analyst-pass", role="analyst"))
    h1, h2 = {"Authorization": f"Bearer {a1}"}, {"Authorization": f"Bearer {a2}"}
    cid = client.get("/api/v1/conversations", headers=h1).json()[0]["id"]
    assert client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
    assert client.get("/api/v1/conversations").status_code == 401
    assert client.post(f"/api/v1/conversations/{cid}/messages", headers=h1, json={"text": "hi"}).status_code == 409
    assert client.post(f"/api/v1/conversations/{cid}/takeover", headers=h1).status_code == 200
    assert client.post(f"/api/v1/conversations/{cid}/takeover", headers=h2).status_code == 409
    assert client.post(f"/api/v1/conversations/{cid}/messages", headers=h2, json={"text": "hi"}).status_code == 409
    assert client.post(f"/api/v1/conversations/{cid}/messages", headers=h1, json={"text": ""}).status_code == 422
    assert client.post("/api/v1/conversations/999999/takeover", headers=h1).status_code == 404
    assert chat(client, conv, "还在吗").json()["replies"] == []  # the bot is silent while an agent talks
    back = client.post(f"/api/v1/conversations/{cid}/handback", headers=h1)
    assert back.status_code == 200 and back.json()["mode"] == "bot"
    assert chat(client, conv, "你好").json()["replies"]
    assert client.get("/api/v1/conversations", params={"mode": "sleeping"}, headers=h1).status_code == 422
    detail = client.get(f"/api/v1/conversations/{cid}", headers=h1).json()
    assert [m["author"] for m in detail["messages"]][:2] == ["citizen", "bot"]


def test_web_chat_replies_are_recorded_as_delivered(client, db):
    chat(client, uuid.uuid4().hex, "你好")
    with db.session() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert rows and {(r.status, r.attempts) for r in rows} == {("delivered", 1)}
    assert all(r.sent_at is not None and r.inbox_id is not None for r in rows)


def test_one_chat_cannot_replay_anothers_message_id(client, db):
    mine = chat(client, uuid.uuid4().hex, "我叫张三，电话13812345678，我要投诉", message_id="shared-0001").json()
    theirs = chat(client, uuid.uuid4().hex, "你好", message_id="shared-0001").json()
    assert theirs != mine and "13812345678" not in str(theirs)
    assert count(db, InboxMessage) == 2
