"""The shared web chat poller: agent messages reach every open socket of their conversation, in one query per poll."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from bot import service as conversations
from channels.webchat import push
from channels.webchat.api import _render
from core.accounts import create_token, create_user
from server.app import create_app


@pytest.fixture
def client(db, settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def open_chat(ws, conv: str) -> None:
    ws.send_json({"type": "hello", "conversation_id": conv, "locale": "zh-CN", "after": 0})
    assert ws.receive_json()["type"] == "history"
    ws.send_json({"type": "message", "conversation_id": conv, "message_id": uuid.uuid4().hex, "text": "转人工"})
    assert ws.receive_json()["type"] == "typing"
    assert ws.receive_json()["type"] == "replies"


def pushed_until(ws, text: str) -> list[dict]:
    messages: list[dict] = []
    while not any(text in m["text"] for m in messages):
        frame = ws.receive_json()
        assert frame["type"] == "push", frame
        messages += frame["messages"]
    return messages


def test_agent_messages_reach_two_sockets_on_different_conversations(client, db):
    with db.transaction() as s:
        token = create_token(s, user=create_user(s, username="agent-push", password="agent-pass-1", role="agent"))
    headers = {"Authorization": f"Bearer {token}"}
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    with client.websocket_connect("/ws/chat") as ws1, client.websocket_connect("/ws/chat") as ws2:
        open_chat(ws1, first)
        open_chat(ws2, second)
        with db.session() as s:
            ids = {conv: conversations.get_by_identity(s, channel="webchat", external_id=conv).id for conv in (first, second)}
        for conv, text in ((first, "您好，我是小李，负责第一件事。"), (second, "您好，我是小王，负责第二件事。")):
            assert client.post(f"/api/v1/conversations/{ids[conv]}/takeover", headers=headers).status_code == 200
            r = client.post(f"/api/v1/conversations/{ids[conv]}/messages", headers=headers, json={"text": text})
            assert r.status_code == 200
        got1, got2 = pushed_until(ws1, "小李"), pushed_until(ws2, "小王")
    assert not any("小王" in m["text"] for m in got1) and not any("小李" in m["text"] for m in got2)
    assert all(m["direction"] == "out" for m in got1 + got2)
    assert [m["seq"] for m in got1] == sorted({m["seq"] for m in got1})  # each message once, in order


def test_one_poll_serves_every_socket_with_two_queries(db):
    with db.transaction() as s:
        convs = []
        for _ in range(40):
            external = uuid.uuid4().hex
            conversations.ensure(s, channel="webchat", external_id=external)
            conv = conversations.get_by_identity(s, channel="webchat", external_id=external)
            conversations.record(s, conv, direction="in", author="citizen", text="你好")
            conversations.record(s, conv, direction="out", author="bot", text="您好")
            convs.append(conv)
    inboxes: dict[int, list[dict]] = {}

    def subscriber(n: int, conv, *, busy: bool = False) -> push.Subscriber:
        async def send(frame: dict) -> None:
            inboxes.setdefault(n, []).append(frame)

        return push.Subscriber(send=send, conversation_id=conv.external_id, seen=conv.last_seq, busy=int(busy))

    statements: list[str] = []
    listener = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731

    def queries() -> int:
        count = len([q for q in statements if "conversation" in q])
        statements.clear()
        return count

    async def scenario() -> list[tuple[int, int]]:
        pusher = push.Pusher(db, interval=3600, render=_render)
        subs = [subscriber(n, conv) for n, conv in enumerate(convs)]
        subs += [subscriber(100, convs[0]), subscriber(101, convs[1], busy=True)]  # a second tab; one mid-turn
        for sub in subs:
            pusher.subscribe(sub)
        with db.transaction() as s:
            for conv in convs[:2]:
                conversations.record(s, s.merge(conv), direction="out", author="agent:li", text="工作人员回复")
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            first = (await pusher.poll(), queries())
            second = (await pusher.poll(), queries())
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        for sub in subs:
            pusher.unsubscribe(sub)
        return [first, second]

    first, second = asyncio.run(scenario())
    assert sorted(inboxes) == [0, 1, 100]  # both conversations, the second tab too, not the socket mid-turn
    assert [m["text"] for m in inboxes[0][0]["messages"]] == ["工作人员回复"]
    assert inboxes[0][0]["messages"][0]["author"] == "agent"
    assert first == (3, 2)  # three sockets pushed; one query for last_seq, one for the messages
    assert second == (0, 1)  # nothing new: one query for all 42 sockets
