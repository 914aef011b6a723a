"""SMS over Twilio: signed webhooks answered in TwiML, repeats, refusals, long replies, STOP / START / HELP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import twilio_standin as tw
from sqlalchemy import func, select

from bot import service as conversations
from bot.models import Conversation
from channels.models import InboxMessage, OutboxMessage
from channels.service import enqueue_agent_message
from channels.sms import adapter
from channels.sms.api import twiml_messages

PATH = "/channels/sms/twilio"


def messages_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def sms(body: str, n: int, sender: str = "+8613812345678") -> dict[str, str]:
    message_sid = f"SM{n:032x}"
    return tw.payload("sms", "inbound_sms", Body=body, MessageSid=message_sid, SmsSid=message_sid,
                      SmsMessageSid=message_sid, From=sender)


def conversation(db, sender: str = "+8613812345678") -> Conversation:
    with db.session() as s:
        return conversations.get_by_identity(s, channel="sms", external_id=sender)


def test_inbound_text_message_is_answered_in_twiml(client, db):
    params = tw.payload("sms", "inbound_sms")
    answer = messages_of(tw.post(client, PATH, params))
    assert answer and "哪里" in answer[0]  # the bot has the description and asks where
    assert "回复：" in answer[0] and "岳麓区" in answer[0]  # quick replies become words to send back
    with db.session() as s:
        inbox = s.scalar(select(InboxMessage))
        assert (inbox.channel, inbox.sender, inbox.platform_msg_id, inbox.status) == (
            "sms", "+8613812345678", params["MessageSid"], "processed")
        assert inbox.text == params["Body"]
        rows = s.scalars(select(OutboxMessage)).all()
        assert rows and all(r.status == "delivered" and r.recipient == "+8613812345678" for r in rows)
    assert conversation(db).state["slots"]["description"].endswith("影响休息")


def test_inbound_mms_keeps_the_picture_link(client, db):
    params = tw.payload("sms", "inbound_mms")
    assert messages_of(tw.post(client, PATH, params))
    with db.session() as s:
        inbox = s.scalar(select(InboxMessage))
    assert inbox.media["type"] == "image" and inbox.media["url"] == params["MediaUrl0"]
    assert inbox.media["content_type"] == "image/jpeg" and inbox.platform_msg_id.startswith("MM")


def test_repeated_delivery_returns_the_same_answer_once(client, db):
    params = sms("我要投诉，小区物业乱收费，每月多收停车费两百元", 1)
    first = tw.post(client, PATH, params)
    again = tw.post(client, PATH, params)
    assert messages_of(first) == messages_of(again)
    assert count(db, InboxMessage) == 1
    assert count(db, OutboxMessage) == len(messages_of(first))


@pytest.mark.parametrize("forgery", ["missing", "wrong token", "tampered body", "other url", "other account"])
def test_forged_or_missing_signature_is_refused_and_nothing_is_stored(client, db, forgery):
    params = tw.payload("sms", "inbound_sms")
    headers = {"X-Twilio-Signature": tw.signature(PATH, params)}
    if forgery == "missing":
        headers = {}
    elif forgery == "wrong token":
        headers["X-Twilio-Signature"] = tw.signature(PATH, params, token="0" * 32)
    elif forgery == "tampered body":
        params = {**params, "Body": "篡改过的内容"}
    elif forgery == "other url":
        headers["X-Twilio-Signature"] = tw.signature("/channels/sms/twilio/status", params)
    elif forgery == "other account":
        params = {**params, "AccountSid": "AC" + "9" * 32}
        headers["X-Twilio-Signature"] = tw.signature(PATH, params)
    r = client.post(PATH, data=params, headers=headers)
    assert r.status_code == 403, r.text
    assert "Twilio" in r.json()["detail"] or "account" in r.json()["detail"]
    assert count(db, InboxMessage) == 0 and count(db, Conversation) == 0


def test_oversized_and_malformed_bodies_are_refused_clearly(client, db):
    big = sms("投诉" * 40_000, 2)  # 240 KB of form data: more than a Twilio webhook ever is
    r = tw.post(client, PATH, big)
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    huge = sms("x" * 1_200_000, 3)  # past the app's own limit
    assert tw.post(client, PATH, huge).status_code == 413
    no_sid = {k: v for k, v in sms("你好", 4).items() if k not in ("MessageSid", "SmsSid")}
    r = tw.post(client, PATH, no_sid)
    assert r.status_code == 400 and "SmsSid" in r.json()["detail"]
    bad_sid = sms("你好", 5)
    bad_sid["MessageSid"] = "../../etc/passwd"
    assert tw.post(client, PATH, bad_sid).status_code == 400
    assert count(db, InboxMessage) == 0
    # A good message afterwards is processed as usual: nothing was left half-done.
    assert messages_of(tw.post(client, PATH, sms("我要投诉，小区物业乱收费，每月多收停车费两百元", 6)))


def test_unconfigured_twilio_answers_503(client, db, twilio_settings):
    from fastapi.testclient import TestClient

    from core.settings import configure
    from server.app import create_app

    bare = twilio_settings.model_copy(update={"twilio_auth_token": None})
    app = create_app(bare)
    try:
        with TestClient(app) as c:
            r = tw.post(c, PATH, tw.payload("sms", "inbound_sms"))
        assert r.status_code == 503 and "PETITION_TWILIO_AUTH_TOKEN" in r.json()["detail"]
    finally:
        app.state.db.dispose()
        configure(twilio_settings)


def test_long_replies_are_split_into_messages_of_at_most_1600_characters():
    text = "\n".join(f"第{i}条：" + "情况说明" * 60 for i in range(12))  # ~3 000 characters in lines
    parts = adapter.split_message(text)
    assert len(parts) >= 2 and all(len(p) <= adapter.MAX_MESSAGE_CHARS for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    unbroken = "长" * 4000  # no boundary at all: cut hard
    assert [len(p) for p in adapter.split_message(unbroken)] == [1600, 1600, 800]
    root = ET.fromstring(twiml_messages([text, "好的"]))
    bodies = [m.text for m in root.findall("Message")]
    assert len(bodies) == len(parts) + 1 and bodies[-1] == "好的"


class HeldRunner:
    """Keep submitted tasks instead of running them."""

    def __init__(self):
        self.submitted = []

    def submit(self, name, kwargs):
        # The durable task record's id travels with the arguments; these tests call the task bodies directly.
        self.submitted.append((name, {k: v for k, v in kwargs.items() if k != "_task_record"}))


def test_stop_unsubscribes_and_nothing_more_is_sent(client, db, monkeypatch):
    from core import tasks as core_tasks

    tw.post(client, PATH, sms("我要投诉，小区物业乱收费，每月多收停车费两百元", 10))
    monkeypatch.setattr(core_tasks, "_runner", HeldRunner())
    with db.transaction() as s:  # a notification queued, not yet sent, when the STOP arrives
        conv = conversations.get_by_identity(s, channel="sms", external_id="+8613812345678", for_update=True)
        line = conversations.record(s, conv, direction="out", author="agent:x", text="您的事项已受理")
        pending = enqueue_agent_message(s, conv=conv, seq=line.seq, text="您的事项已受理").id
    answer = messages_of(tw.post(client, PATH, sms("STOP", 11)))
    assert len(answer) == 1 and "退订" in answer[0] and "START" in answer[0]
    conv = conversation(db)
    assert conv.mode == "closed" and conv.state[adapter.OPT_OUT_KEY] is True
    with db.session() as s:
        assert s.get(OutboxMessage, pending).status == "failed"
        assert "STOP" in s.get(OutboxMessage, pending).last_error
        assert adapter.opted_out(s, "+8613812345678")
    # Later messages are kept, but the bot stays silent and nothing is answered.
    assert messages_of(tw.post(client, PATH, sms("还有人在吗", 12))) == []
    with db.session() as s:
        kept = s.scalar(select(InboxMessage).where(InboxMessage.platform_msg_id == f"SM{12:032x}"))
        assert kept.text == "还有人在吗" and kept.status == "processed"
    assert conversation(db).mode == "closed"
    # START subscribes again and the bot answers from then on.
    assert "恢复" in messages_of(tw.post(client, PATH, sms("START", 13)))[0]
    assert conversation(db).mode == "bot"
    assert messages_of(tw.post(client, PATH, sms("我要投诉，小区物业乱收费，每月多收停车费两百元", 14)))


def test_chinese_unsubscribe_keyword_td(client, db):
    answer = messages_of(tw.post(client, PATH, sms("TD", 20, sender="+8613900001111")))
    assert "退订" in answer[0]
    assert conversation(db, "+8613900001111").mode == "closed"


def test_help_gets_the_help_text_and_how_to_unsubscribe(client, db):
    answer = messages_of(tw.post(client, PATH, sms("HELP", 30)))
    assert any("转人工" in a for a in answer)
    assert "STOP" in answer[-1] and "TD" in answer[-1]


def test_a_whole_petition_by_sms_ends_registered_and_followable(client, db):
    sender = "+8613912348888"
    turns = ["我要投诉，雨花区东塘街道的菜市场占道经营，早上车都过不去，希望城管整治", "跳过", "跳过", "1", "没有", "李娜",
             "同意", "确认提交"]
    answers = [" ".join(messages_of(tw.post(client, PATH, sms(text, 9000 + i, sender)))) for i, text in enumerate(turns)]
    assert "受理编号" in answers[-1] and "查询码" in answers[-1]
    assert "联系电话：13912348888" in answers[-2]  # the sender's number, verified by the network, is never asked
    tracking_no = answers[-1].split("受理编号：")[1][:18]
    status = " ".join(messages_of(tw.post(client, PATH, sms(f"查询 {tracking_no}", 9100, sender))))
    assert tracking_no in status and "已登记" in status
    with db.session() as s:
        from cases.models import Petition

        petition = s.scalar(select(Petition).where(Petition.tracking_no == tracking_no))
        assert (petition.channel, petition.area_code[:6], petition.petitioner.phone) == ("sms", "430111", "13912348888")
