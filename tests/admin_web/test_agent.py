"""The agent inbox: waiting conversations, take over, reply through the citizen's channel, hand back, close, live events."""

from __future__ import annotations

import re
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin_web.pages import agent as agent_page
from bot.models import Conversation, ConversationMessage
from cases.handling import service as handling
from channels.models import OutboxMessage
from core.accounts import Actor, Role
from tests.cases.helpers import register

ROW = re.compile(r'<tr data-conversation="(\d+)"')
AGENT_ACTIONS = ["takeover", "reply", "handback", "close"]


def chat(app, conversation: str, text: str):
    """Send a citizen's web chat message and return the bot's replies."""
    r = TestClient(app).post("/api/v1/chat", json={"conversation_id": conversation, "message_id": uuid.uuid4().hex,
                                                    "text": text, "locale": "zh-CN"})
    assert r.status_code == 200, r.text
    return r.json()["replies"]


def citizen_history(app, conversation: str) -> list[dict]:
    """Return the conversation as the citizen's web chat sees it."""
    return TestClient(app).get(f"/api/v1/chat/{conversation}/history").json()["messages"]


def conversation_id(db, external: str) -> int:
    with db.session() as s:
        return s.scalar(select(Conversation.id).where(Conversation.external_id == external))


def mode_of(db, cid: int) -> tuple[str, str | None]:
    with db.session() as s:
        conv = s.get(Conversation, cid)
        return conv.mode, conv.agent


def message_count(db, cid: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ConversationMessage).where(ConversationMessage.conversation_id == cid))


def ask_for_a_person(app, db, first: str | None = None) -> tuple[str, int]:
    """Start a web chat that asks for a person; return its client id and conversation id."""
    external = uuid.uuid4().hex
    if first:
        chat(app, external, first)
    replies = chat(app, external, "转人工")
    assert any("人工" in r["text"] for r in replies), replies
    cid = conversation_id(db, external)
    assert mode_of(db, cid) == ("waiting", None)
    return external, cid


def section(html: str, name: str) -> str:
    """Return the HTML of one inbox section (waiting, mine, others)."""
    match = re.search(rf'<section class="card" id="{name}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_waiting_conversations_are_listed_urgent_first(app, db, as_role):
    calm, calm_id = ask_for_a_person(app, db, first="小区物业乱收费，我要投诉")
    urgent_ext = uuid.uuid4().hex
    chat(app, urgent_ext, "我的问题一直没人管，我不想活了")
    urgent_id = conversation_id(db, urgent_ext)
    assert mode_of(db, urgent_id)[0] == "waiting"

    agent = as_role("agent")
    page = agent.get("/console/agent")
    assert page.status_code == 200
    waiting = section(page.text, "waiting")
    # The urgent one came later but is listed first; the calm one shows its reason, channel and last message.
    assert ROW.findall(waiting) == [str(urgent_id), str(calm_id)]
    urgent_row = waiting.split(f'data-conversation="{calm_id}"')[0]
    assert "紧急" in urgent_row and "风险提示" in urgent_row
    calm_row = waiting.split(f'data-conversation="{calm_id}"')[1]
    assert "群众要求转人工" in calm_row and "网页聊天" in calm_row and "中文" in calm_row and "紧急" not in calm_row
    assert "转人工" in calm_row and "待回复" not in calm_row  # the citizen's last message; the bot answered it
    assert 'data-live-events="/console/agent/events?since=' in page.text
    assert ROW.findall(section(page.text, "mine")) == []

    fragment = agent.get("/console/agent/list")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert ROW.findall(section(fragment.text, "waiting")) == [str(urgent_id), str(calm_id)]

    assert agent.get("/console/lang/en?next=/console/agent").status_code == 303
    english = agent.get("/console/agent")
    assert "Waiting for a person" in english.text and "The citizen asked for a person" in english.text


@pytest.mark.parametrize("role", ["analyst", "handler", "triage"])
def test_other_roles_are_refused_everywhere(app, db, as_role, role):
    _, cid = ask_for_a_person(app, db)
    before = message_count(db, cid)
    client = as_role(role)
    for url in ["/console/agent", "/console/agent/list", "/console/agent/events", f"/console/agent/{cid}",
                f"/console/agent/{cid}/messages", f"/console/agent/{cid}/events"]:
        assert client.get(url).status_code == 403, url
    for action in AGENT_ACTIONS:
        assert client.post(f"/console/agent/{cid}/{action}", data={"text": "你好"}).status_code == 403, action
    assert mode_of(db, cid) == ("waiting", None) and message_count(db, cid) == before


def test_take_over_reply_hand_back_and_close(app, db, as_role):
    external, cid = ask_for_a_person(app, db, first="我要投诉，小区物业乱收费")
    with db.transaction() as s:
        handling.create_template(s, kind="canned", name="问候", text="您好，我是人工客服，请问有什么可以帮您？",
                                 actor=Actor("admin1", Role.ADMIN))
    agent = as_role("agent")

    # Before taking over: the draft the bot holds is shown, and a reply is refused with a clear message.
    page = agent.get(f"/console/agent/{cid}")
    assert page.status_code == 200
    assert 'data-testid="draft"' in page.text and "小区物业乱收费" in page.text
    assert 'id="reply-text"' not in page.text and 'id="take-over"' in page.text
    refused = agent.post(f"/console/agent/{cid}/reply", {"text": "提前回复"})
    assert refused.status_code == 409 and "请先接管" in refused.text
    assert not any(m["text"] == "提前回复" for m in citizen_history(app, external))

    taken = agent.post(f"/console/agent/{cid}/takeover")
    assert taken.status_code == 303 and taken.headers["location"] == f"/console/agent/{cid}?done=taken"
    assert mode_of(db, cid) == ("agent", "agent1")
    page = agent.get(taken.headers["location"])
    assert "已接管会话" in page.text and 'id="reply-text"' in page.text
    assert 'data-fill="#reply-text" data-text="您好，我是人工客服，请问有什么可以帮您？"' in page.text
    assert ROW.findall(section(agent.get("/console/agent").text, "mine")) == [str(cid)]
    assert ROW.findall(section(agent.get("/console/agent").text, "waiting")) == []

    # Another agent cannot reply or take it; an empty reply is refused; nothing reaches the citizen.
    other = as_role("supervisor")
    r = other.post(f"/console/agent/{cid}/reply", {"text": "我来回复"})
    assert r.status_code == 409 and "已由 agent1 接管" in r.text
    assert other.post(f"/console/agent/{cid}/takeover").status_code == 409
    assert ROW.findall(section(other.get("/console/agent").text, "others")) == [str(cid)]
    empty = agent.post(f"/console/agent/{cid}/reply", {"text": "   "})
    assert empty.status_code == 422 and "不能为空" in empty.text
    too_long = agent.post(f"/console/agent/{cid}/reply", {"text": "长" * 5001})
    assert too_long.status_code == 422 and "长" * 5001 in too_long.text  # the draft is kept for editing

    sent = agent.post(f"/console/agent/{cid}/reply", {"text": "您好，我是工作人员小李，请讲。"})
    assert sent.status_code == 303 and sent.headers["location"] == f"/console/agent/{cid}?done=sent"
    seen = citizen_history(app, external)
    assert [m["author"] for m in seen if m["text"] == "您好，我是工作人员小李，请讲。"] == ["agent"]
    assert not any(m["text"] in ("我来回复", "提前回复") for m in seen)
    with db.session() as s:
        outbox = s.scalars(select(OutboxMessage.text).where(OutboxMessage.conversation_id == cid)).all()
    assert "您好，我是工作人员小李，请讲。" in outbox  # queued on the citizen's channel
    assert chat(app, external, "好的，谢谢") == []  # the bot stays silent while the agent talks
    page = agent.get(f"/console/agent/{cid}")
    assert "好的，谢谢" in page.text and "您好，我是工作人员小李，请讲。" in page.text
    mine = section(agent.get("/console/agent").text, "mine")
    assert "好的，谢谢" in mine and "待回复" in mine

    back = agent.post(f"/console/agent/{cid}/handback")
    assert back.status_code == 303 and back.headers["location"] == "/console/agent?done=handed_back"
    assert mode_of(db, cid) == ("bot", None)
    assert chat(app, external, "你好")  # the bot answers again
    assert agent.post(f"/console/agent/{cid}/handback").status_code == 409

    # A waiting conversation can be closed without taking it over; afterwards nothing more can be done.
    _, second = ask_for_a_person(app, db)
    closed = agent.post(f"/console/agent/{second}/close")
    assert closed.status_code == 303 and closed.headers["location"] == "/console/agent?done=closed"
    assert mode_of(db, second) == ("closed", None)
    again = agent.post(f"/console/agent/{second}/takeover")
    assert again.status_code == 409 and "会话已结束" in again.text
    assert "会话已结束" in agent.get(f"/console/agent/{second}").text

    assert agent.get("/console/agent/999999").status_code == 404
    assert agent.post("/console/agent/999999/takeover").status_code == 404
    assert agent.get("/console/agent/999999/events").status_code == 404


def test_filed_petitions_are_linked(app, db, as_role):
    _, cid = ask_for_a_person(app, db)
    with db.transaction() as s:
        petition, _ = register(s, channel="webchat")
        s.get(Conversation, cid).petition_id = petition.id
        tracking_no = petition.tracking_no
    page = as_role("admin").get(f"/console/agent/{cid}")
    assert page.status_code == 200 and f'href="/console/cases/{tracking_no}"' in page.text


def test_csrf_is_required_and_nothing_is_sent_without_it(app, db, as_role):
    external, cid = ask_for_a_person(app, db)
    agent = as_role("agent")
    assert agent.client.post(f"/console/agent/{cid}/takeover").status_code == 403
    assert mode_of(db, cid) == ("waiting", None)
    assert agent.post(f"/console/agent/{cid}/takeover").status_code == 303
    r = agent.client.post(f"/console/agent/{cid}/reply", data={"text": "伪造的消息", "csrf": "forged"})
    assert r.status_code == 403
    for action in ("handback", "close"):
        assert agent.client.post(f"/console/agent/{cid}/{action}").status_code == 403
    assert mode_of(db, cid) == ("agent", "agent1")
    assert not any(m["text"] == "伪造的消息" for m in citizen_history(app, external))


def test_citizen_html_is_escaped(app, db, as_role):
    external, cid = ask_for_a_person(app, db)
    chat(app, external, "<script>alert(1)</script><img src=x onerror=alert(2)>")
    agent = as_role("agent")
    for url in ["/console/agent", "/console/agent/list", f"/console/agent/{cid}", f"/console/agent/{cid}/messages"]:
        html = agent.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url


def read_events(stream, until, seconds: float) -> list[str]:
    """Read lines from an event stream's line iterator until `until(lines)` holds or the time is up."""
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    for line in stream:
        lines.append(line)
        if until(lines) or time.monotonic() > deadline:
            break
    return lines


def data_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("data:")]


def test_inbox_events_fire_on_a_new_citizen_message(app, db, as_role, monkeypatch):
    monkeypatch.setattr(agent_page, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(agent_page, "KEEPALIVE_SECONDS", 0.5)
    monkeypatch.setattr(agent_page, "STREAM_SECONDS", 20.0)
    external, cid = ask_for_a_person(app, db)
    agent = as_role("agent")
    with agent.client.stream("GET", "/console/agent/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # Quiet: only the greeting and keep-alive comments, no event.
        stream = response.iter_lines()
        quiet = read_events(stream, lambda lines: ": keep-alive" in lines, 10)
        assert ": keep-alive" in quiet and data_lines(quiet) == []
        sender = threading.Thread(target=chat, args=(app, external, "还有人吗？"))
        sender.start()
        lines = read_events(stream, data_lines, 15)
        sender.join()
    assert data_lines(lines), lines

    # A page rendered before a change gets the event at once when its stream starts.
    page = agent.get(f"/console/agent/{cid}")
    since = re.search(r'/events\?since=([0-9a-f]+)', page.text).group(1)
    chat(app, external, "我再补充一句")
    with agent.client.stream("GET", f"/console/agent/{cid}/events?since={since}") as response:
        assert data_lines(read_events(response.iter_lines(), data_lines, 10))
    fragment = agent.get(f"/console/agent/{cid}/messages")
    assert "我再补充一句" in fragment.text and "<html" not in fragment.text


def test_event_streams_end_by_themselves(app, db, as_role, monkeypatch):
    monkeypatch.setattr(agent_page, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(agent_page, "STREAM_SECONDS", 1.0)
    agent = as_role("agent")
    started = time.monotonic()
    with agent.client.stream("GET", "/console/agent/events") as response:
        lines = list(response.iter_lines())
    assert time.monotonic() - started < 8
    assert lines[0].startswith("retry:")
