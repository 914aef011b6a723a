"""The official account webhook: URL verification, every message type, safe and compatible mode, hostile input,
resends of one MsgId, slow turns answered through the customer-service API, and a whole intake over WeChat."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from wechat_kit import OPENID, TEMPLATE_ID, WeChatServer, content, file_petition, fixture, make_app, say, settle

from bot.models import Conversation, ConversationMessage
from cases import service as cases
from cases.models import Petition
from cases.schemas import TransitionIn
from channels.models import InboxMessage, OutboxMessage
from channels.wechat import api, media, service
from core.accounts import Actor, Role

SPEECH = Path(__file__).resolve().parents[4] / "shared" / "data" / "speech"
STAFF = Actor("wechat-test-staff", Role.ADMIN)


@pytest.fixture(autouse=True)
def roomy_budget(monkeypatch):
    # The first turn of a test run loads the NLU; a roomy budget keeps fast-path tests deterministic.
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 30.0)


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def inbox(db) -> list[InboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboxMessage).order_by(InboxMessage.id)))


# URL verification -------------------------------------------------------------------------------------

def test_url_verification_echoes_only_for_a_good_signature(wechat):
    ok = wechat.verify_url("5837397520665436492")
    assert ok.status_code == 200 and ok.text == "5837397520665436492"
    forged = wechat.verify_url("5837397520665436492", signature="0" * 40)
    assert forged.status_code == 403 and "signature" in forged.text
    assert WeChatServer(wechat.client, token="someone-elses-token").verify_url().status_code == 403
    assert wechat.client.get("/channels/wechat", params={"echostr": "1"}).status_code == 403


def test_not_configured_is_503(db, settings):
    app = make_app(settings.model_copy(update={"wechat_token": None}))
    try:
        with TestClient(app) as c:
            r = c.get("/channels/wechat", params={"signature": "x", "timestamp": "1", "nonce": "2", "echostr": "3"})
            assert r.status_code == 503 and "PETITION_WECHAT_TOKEN" in r.json()["detail"]
    finally:
        from core import db as core_db
        from core.settings import configure

        configure(settings)
        core_db.configure(settings)
        app.state.db.dispose()


# One test per message type ------------------------------------------------------------------------------

def test_text_gets_a_passive_reply(wechat, db):
    r = wechat.post(fixture("text"))
    assert r.headers["content-type"].startswith("application/xml")
    text = content(wechat, r)
    assert "您好" in text and "【我要反映问题】" in text
    [row] = inbox(db)
    assert (row.channel, row.sender, row.platform_msg_id, row.text) == ("wechat", OPENID, "24349580519367680", "你好")
    with db.session() as s:
        out = s.scalars(select(OutboxMessage)).all()
    assert out and all(o.status == "delivered" and o.platform_msg_id == "passive" for o in out)


def test_voice_with_recognition_uses_wechats_text(wechat, db, standin):
    text = content(wechat, wechat.post(fixture("voice_recognition")))
    assert "哪里" in text  # the complaint was understood: the bot asks where
    [row] = inbox(db)
    assert row.text == "我要投诉小区门口的烧烤摊每天晚上油烟很大"
    assert row.media["type"] == "voice" and row.media["source"] == "wechat_recognition"
    assert standin.received("/cgi-bin/media/get") == []  # nothing downloaded


def _amr(source: Path, target: Path) -> bytes:
    """Encode a clip as WeChat sends voice: AMR-NB, 8 kHz mono."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w", format="amr") as out:
        stream = out.add_stream("libopencore_amrnb", rate=8000)
        stream.layout = "mono"
        stream.bit_rate = 12200
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        for frame in [*inp.decode(audio=0), None]:
            for chunk in resampler.resample(frame):
                for packet in stream.encode(chunk):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target.read_bytes()


def test_voice_without_recognition_is_downloaded_and_transcribed(wechat, db, standin, tmp_path, monkeypatch):
    from core.settings import ROOT, get_settings

    model = Path(get_settings().transcriber_model_dir)
    if not ((model if model.is_absolute() else ROOT / model) / "model.bin").is_file():
        pytest.skip("no Whisper model installed (petition models install)")
    clip = SPEECH / "zh_fireredasr_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况
    if not clip.exists():
        pytest.skip(f"shared speech data not found at {clip.parent}")
    media_id = "Gq4fSbGJdm2bKmP9aFqzJ0e5tWMkZ1_xXJr8n2oVbYwOQEhgBvTz7CRlAacKf3iN"
    standin.media[media_id] = (_amr(clip, tmp_path / "voice.amr"), "audio/amr")
    # Downloading and transcribing can outlast WeChat's five seconds (the first time, Whisper loads): take
    # that path for sure here, so the answer is "success" and the reply follows through customer service.
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 0.0)
    r = wechat.post(fixture("voice"))
    assert r.status_code == 200 and r.text == "success"
    sent = standin.wait_for("/cgi-bin/message/custom/send", timeout=120)
    settle(120)
    [row] = inbox(db)
    assert "交易" in row.text and row.media["source"] == "transcriber"
    stored = Path(row.media["path"])
    assert stored.suffix == ".amr" and stored.read_bytes()[:6] == b"#!AMR\n"
    assert str(stored).startswith(str(tmp_path / "media"))
    assert sent[0]["touser"] == OPENID and sent[0]["msgtype"] == "text" and sent[0]["text"]["content"]


def test_voice_without_recognition_and_no_transcript_still_reaches_the_bot(wechat, db, standin, monkeypatch):
    class Deaf:
        def transcribe(self, path, *, language=None):
            raise RuntimeError("engine down")

    monkeypatch.setattr(media, "get_transcriber", lambda: Deaf())
    standin.media["Gq4fSbGJdm2bKmP9aFqzJ0e5tWMkZ1_xXJr8n2oVbYwOQEhgBvTz7CRlAacKf3iN"] = (b"#!AMR\n\x00\x00", "audio/amr")
    r = wechat.post(fixture("voice"))
    assert r.status_code == 200
    [row] = inbox(db)
    assert row.text == "" and row.media["source"] == "untranscribed" and Path(row.media["path"]).is_file()
    assert row.status == "processed"


def test_image_is_downloaded_and_attached(wechat, db, standin):
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
    media_id = "nEP3vD6kGnKc_3u0SqIbW0pKx8aUiVG4Hc7gfmVyX0fM1rTjzSdBPlYQw9Oe2aLo"
    standin.media[media_id] = (jpeg, "image/jpeg")
    r = wechat.post(fixture("image"))
    assert r.status_code == 200
    [row] = inbox(db)
    assert row.media["type"] == "image" and row.media["media_id"] == media_id
    assert row.media["pic_url"].startswith("http://mmbiz.qpic.cn/")
    path = Path(row.media["path"])
    assert path.suffix == ".jpg" and path.read_bytes() == jpeg
    [download] = [q for q in standin.requests if q["path"] == "/cgi-bin/media/get"]
    assert download["query"]["media_id"] == media_id and download["query"]["access_token"].startswith("ACCESS_TOKEN_")


def test_image_while_supplementing_is_attached_to_the_petition(wechat, db, standin, msg_ids):
    tracking_no = file_petition(wechat, msg_ids)
    standin.media["nEP3vD6kGnKc_3u0SqIbW0pKx8aUiVG4Hc7gfmVyX0fM1rTjzSdBPlYQw9Oe2aLo"] = (b"\xff\xd8\xff\xd9", "image/jpeg")
    say(wechat, msg_ids, f"我要补充材料 {tracking_no}")
    text = content(wechat, wechat.post(fixture("image", MsgId=msg_ids.next())))
    with db.session() as s:
        petition = cases.get_by_tracking_no(s, tracking_no)
        attachments = [a for sup in petition.supplements for a in sup.attachments]
    assert tracking_no in text
    assert attachments and attachments[0]["type"] == "image" and Path(attachments[0]["path"]).is_file()


def test_location_fills_the_address(wechat, db, msg_ids):
    say(wechat, msg_ids, "我要投诉")
    assert "哪里" in say(wechat, msg_ids, "我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开")
    text = content(wechat, wechat.post(fixture("location", MsgId=msg_ids.next())))
    rows = inbox(db)
    assert rows[-1].text == "我的位置：湖南省长沙市岳麓区麓谷街道枫林三路12号"
    assert rows[-1].media == {"type": "location", "lat": 28.210717, "lng": 112.884539,
                              "label": "湖南省长沙市岳麓区麓谷街道枫林三路12号"}
    with db.session() as s:
        slots = s.scalar(select(Conversation)).state["slots"]
    assert slots["area_name"].startswith("岳麓区") and "枫林三路12号" in (slots.get("address") or "")
    assert "哪里" not in text


def test_subscribe_is_greeted(wechat, db):
    text = content(wechat, wechat.post(fixture("event_subscribe")))
    assert "您好" in text and "【查询进度】" in text
    [row] = inbox(db)
    assert row.platform_msg_id == f"{OPENID}:1700000050:subscribe" and row.text == "你好"


@pytest.mark.parametrize(("key", "expected"), [("FILE_PETITION", "发生了什么"), ("QUERY_STATUS", "编号"),
                                               ("HUMAN", "人工")])
def test_menu_clicks_become_intents(wechat, db, key, expected):
    text = content(wechat, wechat.post(fixture("event_click", EventKey=key)))
    assert expected in text, text
    if key == "HUMAN":
        with db.session() as s:
            assert s.scalar(select(Conversation.mode)) == "waiting"


def test_unknown_events_are_acknowledged_and_not_stored(wechat, db):
    for xml in (fixture("event_unsubscribe"), fixture("event_click", EventKey="SOMETHING_ELSE")):
        r = wechat.post(xml)
        assert r.status_code == 200 and r.text == "success"
    assert inbox(db) == []


# Safe and compatible mode -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["aes", "compat"])
def test_encrypted_modes_get_an_encrypted_reply(safe_client, db, mode):
    r = safe_client.post(fixture("text"), mode=mode)
    assert "<Encrypt>" in r.text and "您好" not in r.text  # sealed
    assert "您好" in content(safe_client, r)
    assert [m.text for m in inbox(db)] == ["你好"]


def test_safe_mode_refuses_wrong_keys_forged_signatures_and_plaintext(safe_client, db):
    wrong_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    r = safe_client.post(fixture("text"), mode="aes", seal_with=wrong_key)
    assert r.status_code == 400 and "decrypt" in r.text
    r = safe_client.post(fixture("text"), mode="aes", msg_signature="f" * 40)
    assert r.status_code == 403 and "msg_signature" in r.text
    r = safe_client.post(fixture("text"), mode="aes", signature="a" * 40)
    assert r.status_code == 403
    r = safe_client.post(fixture("text"), mode="plain")
    assert r.status_code == 403 and "encrypted" in r.text
    other_app = WeChatServer(safe_client.client, appid="wx0000000000000000")
    r = other_app.post(fixture("text"), mode="aes")
    assert r.status_code == 400 and "app id" in r.text
    assert inbox(db) == []


# Hostile input --------------------------------------------------------------------------------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml>
  <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content>&lol9;</Content>
  <MsgId>24349580519367999</MsgId>
</xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml>
  <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content>&xxe;</Content>
  <MsgId>24349580519367998</MsgId>
</xml>"""

PARAMETER_XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<xml><ToUserName>a</ToUserName><FromUserName>oUpF8uMuAJO_M2pxb1Q9zNjWeS6o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize("body", [BOMB, XXE, PARAMETER_XXE, "<xml><ToUserName>", "not xml at all", "",
                                  "<html><body>hi</body></html>", "<xml>" + "<a>" * 50 + "</a>" * 50 + "</xml>",
                                  fixture("text").replace("<MsgId>24349580519367680</MsgId>", "")])
def test_hostile_or_malformed_xml_is_refused_and_nothing_stored(wechat, db, body):
    r = wechat.post(body) if "FromUserName" in body else wechat.client.post(
        "/channels/wechat", content=body.encode(), params=_signed(wechat))
    assert r.status_code == 400, r.text
    assert r.text and r.text != "success"
    assert inbox(db) == [] and count(db, Conversation) == 0


def _signed(wechat: WeChatServer) -> dict:
    timestamp, nonce = str(int(time.time())), "n0nce123"
    return {"signature": wechat.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def test_bomb_inside_an_encrypted_message_is_refused(safe_client, db):
    r = safe_client.post(BOMB, mode="aes")
    assert r.status_code == 400 and "DTD" in r.text
    assert inbox(db) == []


def test_forged_signature_is_403_and_nothing_stored(wechat, db):
    r = wechat.post(fixture("text"), signature="1" * 40)
    assert r.status_code == 403
    r = WeChatServer(wechat.client, token="guessed").post(fixture("text"))
    assert r.status_code == 403
    assert wechat.client.post("/channels/wechat", content=fixture("text").encode()).status_code == 403
    assert inbox(db) == []


def test_a_msgid_of_another_sender_is_refused(wechat, db):
    assert "您好" in content(wechat, wechat.post(fixture("text")))
    forged = fixture("text", FromUserName="oAttacker0000000000000000000")  # same MsgId, another sender
    r = wechat.post(forged)
    assert r.status_code == 403 and "another sender" in r.text and "您好" not in r.text
    assert [m.sender for m in inbox(db)] == [OPENID]
    assert count(db, ConversationMessage, ConversationMessage.direction == "in") == 1


def test_oversized_bodies_are_413(wechat, db, settings):
    big = fixture("text", Content="投诉" * 20_000)  # ~120 KB: over the webhook's limit
    r = wechat.post(big)
    assert r.status_code == 413
    huge = fixture("text", Content="x" * (settings.max_request_bytes + 10))  # over the app's limit
    assert wechat.post(huge).status_code == 413
    assert inbox(db) == []


# Resends and slow turns -------------------------------------------------------------------------------------

def test_three_concurrent_resends_make_one_turn_and_the_same_reply(wechat, db):
    xml = fixture("text", Content="我要投诉，工地夜间施工噪音很大", MsgId=24349580519300001)
    responses: list = []
    threads = [threading.Thread(target=lambda: responses.append(wechat.post(xml))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = [content(wechat, r) for r in responses]
    assert len(texts) == 3 and texts[0] == texts[1] == texts[2] and "哪里" in texts[0]
    assert count(db, InboxMessage) == 1
    assert count(db, ConversationMessage, ConversationMessage.direction == "in") == 1
    with db.session() as s:
        assert all(o.status == "delivered" for o in s.scalars(select(OutboxMessage)))


def test_three_concurrent_resends_in_safe_mode(safe_client, db):
    xml = fixture("text", Content="你好", MsgId=24349580519300002)
    responses: list = []
    threads = [threading.Thread(target=lambda: responses.append(safe_client.post(xml, mode="aes"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = {content(safe_client, r) for r in responses}
    assert len(texts) == 1 and count(db, InboxMessage) == 1


@pytest.fixture
def slow_bot(monkeypatch):
    from bot import engine

    real = engine.handle

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "handle", slow)
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 0.2)


def test_slow_turn_answers_success_then_sends_through_customer_service(wechat, db, standin, slow_bot):
    xml = fixture("text", Content="我要投诉，工地夜间施工噪音很大", MsgId=24349580519300003)
    first = wechat.post(xml)
    assert first.status_code == 200 and first.text == "success"
    resend = wechat.post(xml)  # WeChat's resend while the turn still runs: no second turn
    assert resend.text == "success"
    settle()
    sent = standin.wait_for("/cgi-bin/message/custom/send")
    assert len(sent) == 1 and sent[0]["touser"] == OPENID and "哪里" in sent[0]["text"]["content"]
    later = wechat.post(xml)  # a late resend after the reply left: nothing again
    settle()
    assert later.text == "success"
    assert len(standin.received("/cgi-bin/message/custom/send")) == 1
    assert count(db, InboxMessage) == 1
    assert count(db, ConversationMessage, ConversationMessage.direction == "in") == 1
    with db.session() as s:
        [row] = s.scalars(select(OutboxMessage)).all()
        assert row.status == "sent" and row.platform_msg_id is None


def test_a_resend_that_catches_the_finished_turn_gets_the_passive_reply(wechat, db, standin, monkeypatch):
    from bot import engine

    real, gate = engine.handle, threading.Event()

    def gated(*args, **kwargs):
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "handle", gated)
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 0.3)
    xml = fixture("text", Content="你好", MsgId=24349580519300004)
    assert wechat.post(xml).text == "success"  # the first delivery gives up
    result: list = []
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 10.0)
    resend = threading.Thread(target=lambda: result.append(wechat.post(xml)))
    resend.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the resend has joined the running turn
        flight = service.flights._active.get((OPENID, "24349580519300004"))
        if flight is not None and flight.waiting == 1:
            break
        time.sleep(0.01)
    gate.set()  # the turn finishes while the resend waits: the resend answers passively
    resend.join()
    assert "您好" in content(wechat, result[0])
    settle()
    assert standin.received("/cgi-bin/message/custom/send") == []


def test_a_long_turn_goes_out_as_customer_service_messages(wechat, db, standin, monkeypatch):
    monkeypatch.setattr(service, "PASSIVE_MAX_BYTES", 10)
    r = wechat.post(fixture("text"))
    assert r.text == "success"
    settle()
    sent = standin.wait_for("/cgi-bin/message/custom/send")
    assert "您好" in sent[0]["text"]["content"]


# A whole intake -------------------------------------------------------------------------------------------

def test_a_whole_intake_over_wechat_and_a_template_message_when_it_moves(wechat, db, standin, msg_ids):
    tracking_no = file_petition(wechat, msg_ids)
    with db.session() as s:
        petition = cases.get_by_tracking_no(s, tracking_no)
        assert (petition.channel, petition.status) == ("wechat", "registered")
        assert petition.source_hash == cases.source_digest("wechat", OPENID)
    with db.transaction() as s:
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=TransitionIn(action="accept", reason="ok"))
    settle()
    [sent] = standin.wait_for("/cgi-bin/message/template/send")
    assert sent["touser"] == OPENID and sent["template_id"] == TEMPLATE_ID
    assert sent["data"]["keyword1"]["value"] == tracking_no and sent["data"]["keyword2"]["value"] == "已受理"
    # The status query over WeChat answers from the same petition.
    assert "已受理" in say(wechat, msg_ids, f"查询 {tracking_no}")


def test_status_changes_of_other_channels_send_no_template(wechat, db, standin):
    from cases.schemas import PetitionCreate

    with db.transaction() as s:
        petition, _ = cases.create_petition(s, data=PetitionCreate.model_validate({
            "title": "噪音", "content": "工地夜间施工噪音很大", "channel": "webchat", "area_code": "430104"}),
            actor=STAFF, source=cases.source_digest("webchat", "someone"))
        tracking_no = petition.tracking_no
    with db.transaction() as s:
        cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=TransitionIn(action="accept", reason="ok"))
    settle()
    assert standin.received("/cgi-bin/message/template/send") == []
    with db.session() as s:
        assert s.scalar(select(Petition.status).where(Petition.tracking_no == tracking_no)) == "accepted"
