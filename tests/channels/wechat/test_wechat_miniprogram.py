"""The mini-program back end: code2session login, the chat API and "my petitions"."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from wechat_kit import MINI_APPID, MINI_SECRET, make_app

from cases import service as cases
from cases.schemas import TransitionIn
from channels.models import InboxMessage
from channels.wechat.miniprogram_service import SESSION_TTL, issue_session, read_session
from core.accounts import Actor, Role

STAFF = Actor("mini-test-staff", Role.ADMIN)
USER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
OTHER = "o6_bmasdasdsad6_2sgVt7hMZOPfL"


def login(client, standin, openid: str = USER) -> dict:
    code = uuid.uuid4().hex
    standin.logins[code] = openid
    r = client.post("/api/v1/miniprogram/login", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def chat(client, headers, text: str, message_id: str | None = None):
    return client.post("/api/v1/miniprogram/chat", headers=headers,
                       json={"message_id": message_id or uuid.uuid4().hex, "text": text, "locale": "zh-CN"})


def test_login_exchanges_the_code(client, standin):
    code = "081Kq4Ga1xXH6G0Asnia1q9mkj3Kq4GO"
    standin.logins[code] = USER
    r = client.post("/api/v1/miniprogram/login", json={"code": code})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and r.json()["expires_in"] == SESSION_TTL
    [call] = [q for q in standin.requests if q["path"] == "/sns/jscode2session"]
    assert call["query"] == {"appid": MINI_APPID, "secret": MINI_SECRET, "js_code": code,
                             "grant_type": "authorization_code"}
    assert read_session(r.json()["token"]) == USER
    again = client.post("/api/v1/miniprogram/login", json={"code": code})  # a code works once
    assert again.status_code == 401 and "wx.login" in again.json()["detail"]
    assert client.post("/api/v1/miniprogram/login", json={"code": "../x"}).status_code == 422


def test_login_needs_the_mini_program_configured(db, wechat_settings):
    app = make_app(wechat_settings.model_copy(update={"miniprogram_secret": None}))
    with TestClient(app) as c:
        r = c.post("/api/v1/miniprogram/login", json={"code": "abc"})
        assert r.status_code == 503 and "PETITION_MINIPROGRAM_SECRET" in r.json()["detail"]
    app.state.db.dispose()


def test_sessions_are_signed_and_expire(client, standin):
    token = issue_session(USER)
    assert read_session(token) == USER
    body, mac = token.split(".")
    assert read_session(f"{body}.{'0' * len(mac)}") is None
    assert read_session(issue_session(USER, now=time.time() - SESSION_TTL - 1)) is None
    forged = issue_session(OTHER).split(".")[0] + "." + mac  # someone else's body with this MAC
    assert read_session(forged) is None
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {forged}"}):
        r = chat(client, headers, "你好")
        assert r.status_code == 401, headers
        assert client.get("/api/v1/miniprogram/petitions", headers=headers).status_code == 401


def test_chat_is_idempotent_and_answers_like_the_web_chat(client, db, standin):
    headers = login(client, standin)
    first = chat(client, headers, "你好", message_id="mini-0000001")
    assert first.status_code == 200
    replies = first.json()["replies"]
    assert "您好" in replies[0]["text"] and "查询进度" in replies[0]["quick_replies"]
    assert chat(client, headers, "你好", message_id="mini-0000001").json() == first.json()
    # Another user choosing the same message id gets a turn of their own, never the first user's replies.
    other = chat(client, login(client, standin, OTHER), "我要投诉", message_id="mini-0000001")
    assert other.json() != first.json()
    with db.session() as s:
        rows = s.scalars(select(InboxMessage).order_by(InboxMessage.id)).all()
    assert [(r.channel, r.sender) for r in rows] == [("miniprogram", USER), ("miniprogram", OTHER)]
    history = client.get("/api/v1/miniprogram/chat/history", headers=headers).json()["messages"]
    assert [m["direction"] for m in history] == ["in", "out"]
    assert chat(client, headers, "x", message_id="short").status_code == 422


def test_a_whole_intake_then_my_petitions(client, db, standin):
    headers = login(client, standin)
    steps = [("我要投诉", "发生了什么"), ("我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开", "哪里"),
             ("岳麓区麓谷街道", "详细地址"), ("枫林三路12号", "什么时候"), ("三个月前", "诉求"),
             ("希望环保部门检查，让他们安装油烟净化器", "多少人"), ("就我一个", "反映过"), ("没有", "怎么称呼"),
             ("我叫张三", "联系电话"), ("13812345678", "隐私说明"), ("同意", "请核对")]
    for text, expected in steps:
        answer = " ".join(r["text"] for r in chat(client, headers, text).json()["replies"])
        assert expected in answer, (text, answer)
    done = chat(client, headers, "确认提交").json()["replies"][0]["text"]
    tracking_no = done.split("受理编号：")[1].split()[0]
    with db.transaction() as s:
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=TransitionIn(action="accept", reason="ok"))
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF,
                            change=TransitionIn(action="assign", unit="YL-GOV", reason="属地"))
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=TransitionIn(action="start"))
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF,
                            change=TransitionIn(action="reply", text="已责令烧烤店安装油烟净化器。"))

    mine = client.get("/api/v1/miniprogram/petitions", headers=headers)
    assert mine.status_code == 200
    [item] = mine.json()["petitions"]
    assert item["tracking_no"] == tracking_no and item["status"] == "replied" and item["status_name"]
    assert item["unit"] == "岳麓区人民政府" and item["replies"][0]["text"] == "已责令烧烤店安装油烟净化器。"
    assert "due_at" in item
    detail = client.get(f"/api/v1/miniprogram/petitions/{tracking_no}", headers=headers).json()
    assert detail["content"].startswith("我家楼下的烧烤店") and detail["address"] == "枫林三路12号"
    english = client.get("/api/v1/miniprogram/petitions", headers=headers, params={"locale": "en"}).json()
    assert english["petitions"][0]["status_name"] != item["status_name"]

    stranger = login(client, standin, OTHER)
    assert client.get("/api/v1/miniprogram/petitions", headers=stranger).json() == {"petitions": []}
    assert client.get(f"/api/v1/miniprogram/petitions/{tracking_no}", headers=stranger).status_code == 404
    assert client.get("/api/v1/miniprogram/petitions/" + "X" * 40, headers=headers).status_code == 404
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == len(steps) + 1


@pytest.mark.parametrize("errcode,status", [(45011, 429), (-1, 502)])
def test_login_errors_are_mapped(client, standin, errcode, status, monkeypatch):
    from channels.wechat.client import WeChatAPIError, WeChatClient

    def refuse(self, code):
        raise WeChatAPIError(errcode, "refused", "/sns/jscode2session")

    monkeypatch.setattr(WeChatClient, "code2session", refuse)
    assert client.post("/api/v1/miniprogram/login", json={"code": "abc"}).status_code == status
