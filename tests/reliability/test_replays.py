"""Every channel's webhook delivered three times at once, as WeChat and Twilio resend on a timeout, through a whole
intake: each platform message makes exactly one turn, the repeats get the same answer, and one petition results."""

from __future__ import annotations

import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import xmltodict
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.models import Conversation, ConversationMessage
from cases import service as cases
from cases.models import Petition
from channels.models import InboxMessage, OutboxMessage
from core import db as core_db
from core.settings import configure as configure_settings
from tests.conftest import load_by_path

CHANNEL_TESTS = Path(__file__).resolve().parents[1] / "channels"


wk = load_by_path("wechat_kit", CHANNEL_TESTS / "wechat" / "wechat_kit.py")
tw = load_by_path("twilio_standin", CHANNEL_TESTS / "sms" / "fixtures" / "twilio_standin.py")
speech_kit = load_by_path("speech_helpers", CHANNEL_TESTS / "phone" / "fixtures" / "speech_helpers.py")

DESCRIPTION = "我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开"
# What the bot asks (a cue in its last reply) and what the citizen answers; the first cue found wins.
ANSWERS = [("请核对", "确认提交"), ("隐私", "同意"), ("联系电话", "13812345678"), ("怎么称呼", "我叫张三"),
           ("反映过", "没有"), ("多少人", "就我一个"), ("诉求", "希望环保部门检查，让他们安装油烟净化器"),
           ("什么时候", "三个月前"), ("发生在哪里", "岳麓区麓谷街道"), ("详细地址", "枫林三路12号"), ("发生了什么", DESCRIPTION)]
SPOKEN = "zh_fireredasr_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况


# ---- fixtures: one app with every channel configured against the platforms' stand-ins --------------------------

@pytest.fixture(scope="module")
def twilio():
    server = tw.TwilioStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def wechat_api():
    server = wk.StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def channel_settings(settings, wechat_api, twilio, tmp_path):
    twilio.reset()
    return settings.model_copy(update=dict(
        wechat_token=SecretStr(wk.TOKEN), wechat_appid=wk.APPID, wechat_appsecret=SecretStr(wk.SECRET),
        wechat_aes_key=None, wechat_api_base=wechat_api.base_url, wechat_template_id=wk.TEMPLATE_ID,
        miniprogram_appid=wk.MINI_APPID, miniprogram_secret=SecretStr(wk.MINI_SECRET),
        twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=SecretStr(tw.AUTH_TOKEN), twilio_from=tw.FROM_NUMBER,
        twilio_api_base=twilio.base_url, public_base_url=tw.PUBLIC_BASE, twilio_agent_number="+8673188880000",
        media_dir=str(tmp_path / "media")))


def _client(db, settings, configured):
    from server.app import create_app

    app = create_app(configured)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
            wk.settle()
    finally:
        if app.state.db is not db:
            app.state.db.dispose()
        configure_settings(settings)
        core_db.configure(settings)


@pytest.fixture
def client(db, settings, channel_settings, monkeypatch):
    from channels.wechat import api

    # The first turn of a run loads the NLU: a roomy passive-reply budget keeps every answer in the same exchange.
    monkeypatch.setattr(api, "PASSIVE_BUDGET", 30.0)
    yield from _client(db, settings, channel_settings)


@pytest.fixture
def safe_client(db, settings, channel_settings, monkeypatch):
    from channels.wechat import api

    monkeypatch.setattr(api, "PASSIVE_BUDGET", 30.0)
    yield from _client(db, settings, channel_settings.model_copy(update={"wechat_aes_key": SecretStr(wk.AES_KEY)}))


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    """The real speech model: the phone tests' instance when this session has one, else installed and loaded here."""
    from channels.phone import transcriber as speech
    from channels.phone.models_install import ModelInstallError, install_models

    if not (speech_kit.SPEECH / SPOKEN).is_file():
        pytest.skip(f"no speech clips at {speech_kit.SPEECH}")
    previous = speech._transcriber
    if isinstance(previous, speech_kit.CachingTranscriber):
        yield previous
        return
    if isinstance(previous, speech.WhisperTranscriber):
        inner = previous
    else:
        target = tmp_path_factory.mktemp("speech-models")
        try:
            install_models(target)
        except ModelInstallError as exc:
            pytest.skip(f"speech models not installable: {exc}")
        inner = speech.WhisperTranscriber(target / "whisper-base")
    cached = speech_kit.CachingTranscriber(inner)
    speech.set_transcriber(cached)
    yield cached
    speech.set_transcriber(previous)


# ---- delivering three times at once ---------------------------------------------------------------------

def three_at_once(deliver: Callable[[int], object]) -> list:
    """Run one delivery three times concurrently (released together; each gets its index) and return the results."""
    gate, results, errors = threading.Barrier(3), [None] * 3, []

    def run(i: int) -> None:
        try:
            gate.wait(10)
            results[i] = deliver(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(r is not None for r in results), "a delivery did not finish"
    return results


def same(answers: list):
    """Assert the three answers are one and return it."""
    assert answers[0] == answers[1] == answers[2], answers
    return answers[0]


def intake(send: Callable[[str], str], opening: str = "我要投诉") -> tuple[int, str]:
    """Drive a whole intake: send(text) delivers one message three times at once and returns the bot's answer.

    Return how many messages it took and the final answer (the one with the tracking number)."""
    text = opening
    for n in range(1, 25):
        answer = send(text)
        if re.search(r"受理编号：XF-\d{8}-\d{6}", answer):
            return n, answer
        text = next((reply for cue, reply in ANSWERS if cue in answer), None)
        assert text is not None, f"no scripted answer to: {answer!r}"
    raise AssertionError("the intake did not end with a registered petition")


def assert_one_turn_per_message(db, channel: str, sender: str, messages: int, final_answer: str) -> None:
    """Check the conversation: one processed inbox row and one inbound line per message, one petition."""
    with db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.channel == channel, Conversation.external_id == sender))
        assert conv is not None
        rows = s.scalars(select(InboxMessage).where(InboxMessage.channel == channel, InboxMessage.sender == sender)).all()
        lines = s.scalars(select(ConversationMessage).where(ConversationMessage.conversation_id == conv.id)
                          .order_by(ConversationMessage.seq)).all()
        inbound = [m for m in lines if m.direction == "in"]
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.conversation_id == conv.id,
                                                                                 OutboxMessage.inbox_id.is_not(None)))
        petitions = s.scalars(select(Petition).where(Petition.source_hash == cases.source_digest(channel, sender))).all()
    assert len(rows) == messages, [r.platform_msg_id for r in rows]
    assert all(r.status == "processed" and r.attempts == 1 for r in rows), [(r.status, r.attempts) for r in rows]
    assert len(inbound) == messages
    assert [m.seq for m in lines] == list(range(1, len(lines) + 1))  # nothing recorded twice or interleaved
    assert outbox == len(lines) - len(inbound)  # one outbox row per bot line: no reply stored twice
    assert len(petitions) == 1 and conv.petition_id == petitions[0].id
    assert petitions[0].channel == channel and petitions[0].tracking_no in final_answer


# ---- WeChat official account ---------------------------------------------------------------------------------

class Resender(wk.WeChatServer):
    """WeChat's server resending one signed (and in safe mode encrypted) request unchanged."""

    def prepare(self, xml: str, mode: str) -> tuple[dict, bytes]:
        from wechatpy.crypto import WeChatCrypto

        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"signature": self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                  "openid": wk.OPENID}
        body = xml
        if mode == "aes":
            envelope = xmltodict.parse(WeChatCrypto(self.token, self.aes_key, self.appid).encrypt_message(
                xml, nonce, timestamp))["xml"]
            params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
            body = f"<xml><ToUserName><![CDATA[{wk.ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]>" \
                   "</Encrypt></xml>"
        return params, body.encode("utf-8")

    def send(self, text: str, msg_id: int, mode: str) -> str:
        params, body = self.prepare(wk.fixture("text", Content=text, MsgId=msg_id, CreateTime=int(time.time())), mode)
        responses = three_at_once(lambda _: self.client.post("/channels/wechat", params=params, content=body,
                                                           headers={"Content-Type": "text/xml"}))
        return same([wk.content(self, r) for r in responses])


@pytest.mark.parametrize("mode", ["plain", "aes"])
def test_wechat_official_account(request, db, mode):
    wechat = Resender(request.getfixturevalue("client" if mode == "plain" else "safe_client"))
    ids = iter(range(24349580519500001, 24349580519500100))
    messages, answer = intake(lambda text: wechat.send(text, next(ids), mode))
    assert_one_turn_per_message(db, "wechat", wk.OPENID, messages, answer)


# ---- WeChat mini-program, web chat over HTTP ------------------------------------------------------------------

def test_miniprogram_chat(client, db, wechat_api):
    openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    code = uuid.uuid4().hex
    wechat_api.logins[code] = openid
    token = client.post("/api/v1/miniprogram/login", json={"code": code}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def send(text: str) -> str:
        body = {"message_id": uuid.uuid4().hex, "text": text, "locale": "zh-CN"}
        responses = three_at_once(lambda _: client.post("/api/v1/miniprogram/chat", headers=headers, json=body))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return "\n".join(reply["text"] for reply in same([r.json() for r in responses])["replies"])

    messages, answer = intake(send)
    assert_one_turn_per_message(db, "miniprogram", openid, messages, answer)


def test_web_chat_over_http(client, db):
    conversation = uuid.uuid4().hex

    def send(text: str) -> str:
        body = {"conversation_id": conversation, "message_id": uuid.uuid4().hex, "text": text, "locale": "zh-CN"}
        responses = three_at_once(lambda _: client.post("/api/v1/chat", json=body))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return "\n".join(reply["text"] for reply in same([r.json() for r in responses])["replies"])

    messages, answer = intake(send)
    assert_one_turn_per_message(db, "webchat", conversation, messages, answer)


def test_web_chat_over_websockets(client, db):
    """Three open sockets of one conversation (a page reconnecting twice) send each message with the same id."""
    conversation = uuid.uuid4().hex
    with client.websocket_connect("/ws/chat") as a, client.websocket_connect("/ws/chat") as b, \
            client.websocket_connect("/ws/chat") as c:
        sockets = [a, b, c]
        for ws in sockets:
            ws.send_json({"type": "hello", "conversation_id": conversation, "locale": "zh-CN", "after": 0})
            assert ws.receive_json()["type"] == "history"

        def send(text: str) -> str:
            frame = {"type": "message", "conversation_id": conversation, "message_id": uuid.uuid4().hex, "text": text,
                     "locale": "zh-CN"}

            def deliver(i: int):
                ws = sockets[i]  # each thread its own socket
                ws.send_json(frame)
                while (answer := ws.receive_json())["type"] != "replies":
                    assert answer["type"] in ("typing", "push"), answer
                assert answer["in_reply_to"] == frame["message_id"]
                return answer["replies"]

            return "\n".join(reply["text"] for reply in same(three_at_once(deliver)))

        messages, answer = intake(send)
    assert_one_turn_per_message(db, "webchat", conversation, messages, answer)


# ---- Twilio SMS and Voice -------------------------------------------------------------------------------------

def twiml_post(client, path: str, params: dict[str, str]) -> list[bytes]:
    """POST one signed Twilio webhook three times at once; return the three TwiML bodies."""
    responses = three_at_once(lambda _: tw.post(client, path, params))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.content for r in responses]


def test_sms(client, db):
    sender = "+8613912348888"
    sids = iter(range(1, 100))

    def send(text: str) -> str:
        sid = f"SM{next(sids):032x}"
        params = tw.payload("sms", "inbound_sms", Body=text, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, From=sender)
        root = ET.fromstring(same(twiml_post(client, "/channels/sms/twilio", params)))
        return "\n".join(m.text or "" for m in root.findall("Message"))

    messages, answer = intake(send)
    assert_one_turn_per_message(db, "sms", sender, messages, answer)


class Call:
    """One phone call: Twilio calls every webhook of it three times at once and follows the TwiML."""

    def __init__(self, client, twilio, call_sid: str, caller: str):
        self.client, self.twilio, self.call_sid, self.caller = client, twilio, call_sid, caller
        self.twiml: ET.Element | None = None
        self.turns = 0

    def _params(self, name: str, **fields: str) -> dict[str, str]:
        return tw.payload("phone", name, CallSid=self.call_sid, From=self.caller, Caller=self.caller, **fields)

    def _post(self, path: str, params: dict[str, str]) -> str:
        bodies = []
        for body in twiml_post(self.client, path, params):
            root = ET.fromstring(body)
            while (redirect := root.find("Redirect")) is not None:  # a slow turn: "one moment", then Twilio follows
                r = tw.post(self.client, redirect.text[len(tw.PUBLIC_BASE):], self._params("gather_digits", Digits=""))
                assert r.status_code == 200, r.text
                root, body = ET.fromstring(r.content), r.content
            bodies.append(body)
        self.twiml = ET.fromstring(same(bodies))
        return " ".join(s.text or "" for s in self.twiml.iter("Say"))

    def _action(self, verb: str) -> str:
        return next(self.twiml.iter(verb)).get("action")[len(tw.PUBLIC_BASE):]

    def ring(self) -> str:
        return self._post("/channels/phone/twilio/incoming", self._params("incoming_call"))

    def speak(self, clip: str) -> str:
        recording_sid, url = self.twilio.add_recording((speech_kit.SPEECH / clip).read_bytes())
        self.turns += 1
        return self._post(self._action("Record"), self._params("recording_completed", RecordingSid=recording_sid,
                                                                RecordingUrl=url, RecordingDuration="5"))

    def skip(self) -> str:
        recording_sid, url = self.twilio.add_recording(b"")
        self.turns += 1
        return self._post(self._action("Record"), self._params("recording_completed", RecordingSid=recording_sid,
                                                                RecordingUrl=url, RecordingDuration="0", Digits="*"))

    def press(self, digits: str) -> str:
        self.turns += 1
        return self._post(self._action("Gather"), self._params("gather_digits", Digits=digits))


def test_phone_call(client, db, twilio, whisper):
    caller = "+8613812345678"
    call = Call(client, twilio, "CA" + "7d" * 16, caller)
    said = call.ring()
    assert "For English, press 9" in said
    said = call.speak(SPOKEN)  # the description, transcribed by the real model
    for _ in range(12):
        if "您的信访事项已登记" in said:
            break
        if "请核对" in said or "同意请按1" in said or "匿名请按1" in said or "没有反映过请按1" in said:
            said = call.press("1")
        elif "多少人" in said:
            said = call.press("3")
        elif (area := re.search(r"岳麓区请按(\d)", said)) is not None:
            said = call.press(area.group(1))
        elif "详细地址" in said or "什么时候" in said:
            said = call.skip()
        elif "诉求" in said:
            said = call.speak(SPOKEN)  # a second recording of the same words: another turn, the same transcript
        else:
            raise AssertionError(f"no scripted answer to: {said!r}")
    assert "您的信访事项已登记" in said, said
    tracking = re.search(r"受理编号：X F, ([\d ]+), ([\d ]+)", said)
    assert tracking, said
    answer = "XF-" + tracking.group(1).replace(" ", "") + "-" + tracking.group(2).replace(" ", "")
    assert_one_turn_per_message(db, "phone", caller, call.turns, answer)
    wk.settle()
    # The tracking number also went out by SMS, once, though the last keypress arrived three times.
    assert [m["To"] for m in twilio.messages] == [caller] and answer in twilio.messages[0]["Body"]
