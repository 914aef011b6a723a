"""Phone calls over Twilio Voice: signed webhooks, greeting and language, keypad answers, handoff, refused recordings."""

from __future__ import annotations

import threading
import time
import wave
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import twilio_standin as tw
from sqlalchemy import func, select

from bot import service as conversations
from bot.models import Conversation
from channels import service
from channels.models import InboxMessage
from channels.phone import service as phone
from channels.phone import transcriber as speech
from channels.phone.twiml import speakable

BASE = "/channels/phone/twilio"
CALL = "CA" + "3c" * 16
CALLER = "+8613812345678"


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.content)


def said(root: ET.Element) -> str:
    return " ".join(s.text or "" for s in root.iter("Say"))


def wav(seconds: float, *, amplitude: float = 0.0, rate: int = 8000) -> bytes:
    import io

    samples = np.random.default_rng(1).normal(0, 1, int(seconds * rate)) * amplitude * 32767
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def recording(standin, audio: bytes, *, duration: str = "4", **changes) -> dict[str, str]:
    recording_sid, url = standin.add_recording(audio)
    fields = {"CallSid": CALL, "RecordingSid": recording_sid, "RecordingUrl": url, "RecordingDuration": duration, **changes}
    return tw.payload("phone", "recording_completed", **fields)


def inbox_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(InboxMessage))


def text_turn(db, text: str, message_id: str, caller: str = CALLER):
    """Put the conversation where a test needs it with a typed turn (as if it had been said)."""
    return service.receive(db, service.InboundMessage("phone", caller, message_id, text), in_band=True)


def test_incoming_call_is_greeted_in_chinese_with_english_on_request(client, db):
    root = twiml(tw.post(client, f"{BASE}/incoming", tw.payload("phone", "incoming_call")))
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("action") == tw.PUBLIC_BASE + f"{BASE}/language"
    assert [s.get("language") for s in gather.iter("Say")] == ["zh-CN", "en-US"]
    record = root.find("Record")
    assert record.get("action") == tw.PUBLIC_BASE + f"{BASE}/recording?seq=0"
    assert (record.get("maxLength"), record.get("playBeep"), record.get("timeout")) == ("120", "true", "3")
    assert inbox_count(db) == 0  # ringing is not a message


def test_pressing_9_switches_the_call_to_english(client, db):
    root = twiml(tw.post(client, f"{BASE}/language", tw.payload("phone", "gather_digits", Digits="9")))
    assert {s.get("language") for s in root.iter("Say")} == {"en-US"}
    assert "Switched to English" in said(root) and "describe your problem" in said(root)
    with db.session() as s:
        assert conversations.get_by_identity(s, channel="phone", external_id=CALLER).locale == "en"
    other = twiml(tw.post(client, f"{BASE}/language", tw.payload("phone", "gather_digits", Digits="5",
                                                                  CallSid="CA" + "7" * 32, From="+8613900000000")))
    assert {s.get("language") for s in other.iter("Say")} == {"zh-CN"}


@pytest.mark.parametrize("endpoint", ["/incoming", "/language", "/recording?seq=0", "/gather?kind=choice&seq=1",
                                      "/turn?rec=RE" + "0" * 32 + "&seq=0&n=1"])
def test_forged_or_missing_signatures_are_refused(client, db, endpoint):
    params = tw.payload("phone", "recording_completed")
    path = BASE + endpoint
    assert client.post(path, data=params).status_code == 403
    forged = client.post(path, data=params, headers={"X-Twilio-Signature": tw.signature(path, params, token="1" * 32)})
    assert forged.status_code == 403
    moved = client.post(path, data=params, headers={"X-Twilio-Signature": tw.signature(BASE + "/incoming?x=1", params)})
    assert moved.status_code == 403
    assert inbox_count(db) == 0


def test_oversized_webhook_bodies_are_refused(client, db):
    params = tw.payload("phone", "incoming_call", CallToken="x" * 100_000)
    r = tw.post(client, f"{BASE}/incoming", params)
    assert r.status_code == 413 and "bytes" in r.json()["detail"]


def test_silent_recordings_are_asked_again_and_nothing_is_processed(client, db, standin, whisper):
    empty = recording(standin, b"", duration="0")
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", empty))
    assert "没有听清" in said(root) and root.find("Record") is not None
    quiet = recording(standin, wav(3, amplitude=0.0003), duration="3")  # line noise, no speech
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", quiet))
    assert "没有听清" in said(root) and root.find("Record").get("action").endswith("/recording?seq=0")
    assert inbox_count(db) == 0
    assert standin.downloads == [quiet["RecordingSid"]]  # the empty one was not even fetched


def test_ten_minute_recordings_are_refused_clearly(client, db, standin, whisper):
    declared = recording(standin, b"", duration="600")
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", declared))
    assert "超过120秒" in said(root) and root.find("Record") is not None
    assert standin.downloads == []  # refused on Twilio's word, without fetching ten minutes of audio
    # Twilio said 100 s, the file holds 10 minutes: the download is cut off and refused the same way.
    lying = recording(standin, wav(600), duration="100")
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", lying))
    assert "超过120秒" in said(root)
    assert inbox_count(db) == 0
    assert not list(speech.resolve_path(client.app.state.settings.media_dir).rglob("*.part"))


def test_unreadable_or_foreign_recordings_are_refused_clearly(client, db, standin, whisper):
    garbage = recording(standin, b"RIFF\x00\x00\x00\x00WAVE this is not audio" * 10)
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", garbage))
    assert "无法处理" in said(root) and root.find("Record") is not None
    foreign = recording(standin, wav(2), RecordingUrl="https://evil.example.com/2010-04-01/Accounts/x/Recordings/RE1")
    assert "无法处理" in said(twiml(tw.post(client, f"{BASE}/recording?seq=0", foreign)))
    missing = tw.payload("phone", "recording_completed", CallSid=CALL, RecordingSid="RE" + "d" * 32,
                         RecordingUrl=f"{standin.base_url}/2010-04-01/Accounts/{tw.ACCOUNT_SID}/Recordings/RE{'d' * 32}")
    assert "无法处理" in said(twiml(tw.post(client, f"{BASE}/recording?seq=0", missing)))
    bad = tw.payload("phone", "recording_completed", RecordingSid="../../etc/passwd")
    assert tw.post(client, f"{BASE}/recording?seq=0", bad).status_code == 400
    assert inbox_count(db) == 0


def test_a_recorded_turn_is_transcribed_and_answered(client, db, standin, whisper, clips):
    from speech_helpers import SPEECH

    params = recording(standin, (SPEECH / "zh_funasr_asr_example.wav").read_bytes(), duration="6")
    root = twiml(tw.post(client, f"{BASE}/recording?seq=0", params))
    while root.find("Redirect") is not None:  # a slow machine: follow "one moment" as Twilio would
        url = root.find("Redirect").text[len(tw.PUBLIC_BASE):]
        root = twiml(tw.post(client, url, tw.payload("phone", "gather_digits", CallSid=CALL, Digits="")))
    assert "发生在哪里" in said(root)
    with db.session() as s:
        turn = s.scalar(select(InboxMessage))
    assert turn.platform_msg_id == params["RecordingSid"] and turn.sender == CALLER
    assert turn.text == turn.media["transcript"] and "语音识别" in turn.text
    assert turn.media["type"] == "audio" and turn.media["duration_s"] == pytest.approx(5.55, abs=0.1)
    # Twilio calling back twice for one recording changes nothing and answers the same.
    again = twiml(tw.post(client, f"{BASE}/recording?seq=0", params))
    assert said(again) == said(root) and inbox_count(db) == 1


def test_keypad_answers_map_to_the_bot_choices(client, db):
    reply = text_turn(db, "我要投诉，小区旁边工地每天夜里施工，噪音很大影响休息", "t-1").replies[-1]
    press = tw.payload("phone", "gather_digits", Digits="2")
    root = twiml(tw.post(client, f"{BASE}/gather?kind=choice&seq={reply.seq}", press))  # 天心区
    with db.session() as s:
        conv = conversations.get_by_identity(s, channel="phone", external_id=CALLER)
        assert conv.state["slots"]["area_name"] == "天心区"
    assert "详细地址" in said(root)
    # A key with no choice behind it: said clearly, the same question again, nothing processed.
    before = inbox_count(db)
    root = twiml(tw.post(client, f"{BASE}/gather?kind=choice&seq={reply.seq}", tw.payload("phone", "gather_digits",
                                                                                          Digits="0")))
    assert "按键无效" in said(root) and "天心区请按2" in said(root) and inbox_count(db) == before
    assert tw.post(client, f"{BASE}/gather?kind=letters&seq=1", press).status_code == 400


def test_phone_numbers_are_keyed_in_not_spoken(client, db):
    withheld = {"From": "anonymous", "Caller": "anonymous", "CallSid": "CA" + "a" * 32}
    caller = "call:CA" + "a" * 32
    script = ["我要投诉，小区旁边工地每天夜里施工，噪音很大影响休息", "岳麓区", "跳过", "跳过", "希望停止夜间施工", "1",
              "没有", "王五"]
    for i, text in enumerate(script):
        last = text_turn(db, text, f"w-{i}", caller=caller).replies[-1]
    with db.session() as s:
        assert conversations.get_by_identity(s, channel="phone", external_id=caller).state["asking"] == "phone"
    root = twiml(tw.post(client, f"{BASE}/incoming", tw.payload("phone", "incoming_call", **withheld)))
    gather = root.find("Gather")
    assert "联系电话" in said(root) and gather.get("finishOnKey") == "#" and "kind=phone" in gather.get("action")
    root = twiml(tw.post(client, f"{BASE}/gather?kind=phone&seq={last.seq}",
                         tw.payload("phone", "gather_digits", Digits="13912345678", **withheld)))
    with db.session() as s:
        assert conversations.get_by_identity(s, channel="phone", external_id=caller).state["slots"]["phone"] == "13912345678"
    assert "同意请按1" in said(root)


def test_asking_for_a_person_dials_the_agent(client, db, twilio_settings):
    reply = text_turn(db, "你好", "h-1").replies[-1]
    assert "转人工" in reply.quick_replies
    digit = str(reply.quick_replies.index("转人工") + 1)
    root = twiml(tw.post(client, f"{BASE}/gather?kind=choice&seq={reply.seq}", tw.payload("phone", "gather_digits",
                                                                                          Digits=digit)))
    assert root.find("Dial").find("Number").text == twilio_settings.twilio_agent_number
    assert "转接人工" in said(root) and "在这里回复" not in said(root)
    with db.session() as s:
        assert conversations.get_by_identity(s, channel="phone", external_id=CALLER).mode == "waiting"
    # Calling again while still queued goes straight to a person.
    root = twiml(tw.post(client, f"{BASE}/incoming", tw.payload("phone", "incoming_call", CallSid="CA" + "b" * 32)))
    assert root.find("Dial") is not None


@pytest.mark.parametrize("target,verb", [("queue:petition-agents", "Enqueue"), ("sip:agent@pbx.example.gov.cn", "Dial"),
                                         (None, "Hangup")])
def test_agent_queue_sip_or_none(db, settings, twilio_settings, standin, target, verb):
    from channels.phone.twiml import View, prompt

    xml = prompt(twilio_settings.model_copy(update={"twilio_agent_number": target}), View(mode="waiting"))
    root = ET.fromstring(xml)
    assert root.find(verb) is not None
    if target is None:
        assert "暂时无法接通" in said(root)


def test_a_new_call_resumes_an_unfinished_petition(client, db):
    text_turn(db, "我要投诉，小区旁边工地每天夜里施工，噪音很大影响休息", "r-1")
    root = twiml(tw.post(client, f"{BASE}/incoming", tw.payload("phone", "incoming_call", CallSid="CA" + "c" * 32)))
    assert "还没有完成" in said(root) and "发生在哪里" in said(root) and root.find("Gather") is not None


def test_a_slow_transcription_answers_one_moment_and_picks_up_later(client, db, standin, monkeypatch):
    gate = threading.Event()

    class Slow:
        def transcribe(self, path, *, language=None):
            gate.wait(10)
            return speech.TranscriptResult("我要投诉，小区旁边工地每天夜里施工，噪音很大影响休息", "zh", 4.0, [])

    monkeypatch.setattr(phone, "SYNC_BUDGET_S", 0.05)
    monkeypatch.setattr(phone, "POLL_BUDGET_S", 0.05)
    previous = speech._transcriber
    speech.set_transcriber(Slow())
    try:
        params = recording(standin, wav(2, amplitude=0.2))
        root = twiml(tw.post(client, f"{BASE}/recording?seq=0", params))
        assert "请稍候" in said(root) and root.find("Redirect") is not None
        url = root.find("Redirect").text[len(tw.PUBLIC_BASE):]
        call = tw.payload("phone", "gather_digits", CallSid=CALL, Digits="")
        root = twiml(tw.post(client, url, call))
        assert root.find("Redirect") is not None and "n=2" in root.find("Redirect").text and "请稍候" not in said(root)
        gate.set()
        time.sleep(0.3)
        root = twiml(tw.post(client, url, call))
        assert "发生在哪里" in said(root)
        assert inbox_count(db) == 1
    finally:
        gate.set()
        speech.set_transcriber(previous)


def test_a_caller_hanging_up_mid_sentence_is_still_heard(client, db, standin, monkeypatch):
    class Quick:
        def transcribe(self, path, *, language=None):
            return speech.TranscriptResult("我要投诉，小区旁边工地每天夜里施工，噪音很大影响休息", "zh", 4.0, [])

    previous = speech._transcriber
    speech.set_transcriber(Quick())
    try:
        params = recording(standin, wav(2, amplitude=0.2), Digits="hangup")
        root = twiml(tw.post(client, f"{BASE}/recording?seq=0", params))
        assert list(root) == []
        with phone._work_lock:
            phone._work[params["RecordingSid"]][1].result(timeout=10)
        with db.session() as s:
            assert s.scalar(select(InboxMessage)).text.startswith("我要投诉")
            assert s.scalar(select(Conversation)).state["slots"]["description"]
    finally:
        speech.set_transcriber(previous)


def test_speakable_text_reads_codes_digit_by_digit():
    text = "您的信访事项已登记。\n受理编号：XF-20261205-000001\n查询码：7W3QVB76\n请回复“确认提交”"
    spoken = speakable(text)
    assert "X F, 2 0 2 6 1 2 0 5, 0 0 0 0 0 1" in spoken and "7 W 3 Q V B 7 6" in spoken
    assert "\n" not in spoken and "“" not in spoken and "请说确认提交" in spoken
    assert speakable("You can:\n· reply \"status\"", "en") == "You can. say status"
