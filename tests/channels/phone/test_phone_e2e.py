"""A whole call whose recordings are real Mandarin clips: it ends with a registered petition carrying the transcripts."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import twilio_standin as tw
from speech_helpers import SPEECH, bench_speech
from sqlalchemy import select

from bot.models import Conversation
from cases.models import Petition
from channels.models import InboxMessage
from channels.phone import transcriber as speech
from core import tasks as core_tasks
from nlu.normalize import normalize

CALL = "CA" + "5e" * 16
CALLER = "+8613812345678"
DESCRIPTION = "zh_fireredasr_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况
ADDRESS = "zh_funasr_sample_binhai.wav"  # 我想问我在滨海新区有房
DEMAND = "zh_funasr_asr_example.wav"  # 欢迎大家来体验达摩院推出的语音识别模型


class Call:
    """Drive the app as Twilio would for one call: follow each TwiML's actions with signed callbacks."""

    def __init__(self, client, standin):
        self.client, self.standin, self.twiml = client, standin, None

    def _answer(self, response) -> ET.Element:
        assert response.status_code == 200, response.text
        self.twiml = ET.fromstring(response.content)
        self.redirects = 0
        while (redirect := self.twiml.find("Redirect")) is not None:
            # A slow turn: "one moment", then Twilio follows the redirect with the call's parameters.
            self.redirects += 1
            assert redirect.text.startswith(tw.PUBLIC_BASE) and self.redirects <= 12
            response = tw.post(self.client, redirect.text[len(tw.PUBLIC_BASE):],
                               tw.payload("phone", "gather_digits", CallSid=CALL, Digits=""))
            assert response.status_code == 200, response.text
            self.twiml = ET.fromstring(response.content)
        return self.twiml

    def said(self) -> str:
        return " ".join(s.text or "" for s in self.twiml.iter("Say"))

    def action(self, verb: str) -> str:
        element = next(self.twiml.iter(verb))
        url = element.get("action")
        assert url.startswith(tw.PUBLIC_BASE)
        return url[len(tw.PUBLIC_BASE):]

    def ring(self) -> ET.Element:
        return self._answer(tw.post(self.client, "/channels/phone/twilio/incoming",
                                    tw.payload("phone", "incoming_call", CallSid=CALL)))

    def speak(self, clip: str) -> ET.Element:
        recording_sid, url = self.standin.add_recording((SPEECH / clip).read_bytes())
        self.last_recording = recording_sid
        params = tw.payload("phone", "recording_completed", CallSid=CALL, RecordingSid=recording_sid, RecordingUrl=url,
                            RecordingDuration="5")
        return self._answer(tw.post(self.client, self.action("Record"), params))

    def skip(self) -> ET.Element:
        recording_sid, url = self.standin.add_recording(b"")
        params = tw.payload("phone", "recording_completed", CallSid=CALL, RecordingSid=recording_sid, RecordingUrl=url,
                            RecordingDuration="0", Digits="*")
        return self._answer(tw.post(self.client, self.action("Record"), params))

    def press(self, digits: str) -> ET.Element:
        params = tw.payload("phone", "gather_digits", CallSid=CALL, Digits=digits)
        return self._answer(tw.post(self.client, self.action("Gather"), params))


def test_a_call_of_real_recordings_registers_a_petition_with_their_transcripts(client, db, standin, whisper, clips,
                                                                                  twilio_settings):
    call = Call(client, standin)
    call.ring()
    assert "信访和12345热线" in call.said() and "For English, press 9" in call.said()
    assert call.action("Record").startswith("/channels/phone/twilio/recording")

    call.speak(DESCRIPTION)
    assert "发生在哪里" in call.said() and "岳麓区请按3" in call.said()
    assert "kind=choice" in call.action("Gather")
    call.press("3")  # 岳麓区 on the keypad
    assert "详细地址" in call.said() and "按星号键跳过" in call.said()
    assert next(call.twiml.iter("Record")).get("finishOnKey") == "#*"
    call.speak(ADDRESS)
    assert "什么时候发生" in call.said()
    call.skip()  # * : don't remember when
    assert "诉求" in call.said()
    call.speak(DEMAND)
    assert "多少人" in call.said() and "kind=number" in call.action("Gather")
    call.press("3")
    assert "没有反映过请按1" in call.said()
    call.press("1")
    assert "匿名请按1" in call.said()
    call.press("1")
    assert "同意请按1，不同意请按2" in call.said()
    call.press("1")
    assert "请核对以下信息" in call.said() and "确认提交请按1" in call.said()
    call.press("1")
    said = call.said()
    assert "您的信访事项已登记" in said
    tracking = re.search(r"受理编号：X F, (\d( \d)*), (\d( \d)*)", said)
    assert tracking, said  # read out one digit at a time
    assert next(call.twiml.iter("Record")) is not None  # and the caller may go on

    heard = {clip: whisper.transcribe(SPEECH / clip, language="zh").text for clip in (DESCRIPTION, ADDRESS, DEMAND)}
    with db.session() as s:
        petition = s.scalar(select(Petition))
        conv = s.scalar(select(Conversation).where(Conversation.channel == "phone", Conversation.external_id == CALLER))
        turns = s.scalars(select(InboxMessage).where(InboxMessage.channel == "phone", InboxMessage.media["type"].as_string()
                                                     == "audio").order_by(InboxMessage.id)).all()
    assert petition is not None and petition.channel == "phone" and petition.area_code.startswith("430104")
    assert conv.petition_id == petition.id
    assert normalize(petition.content) == normalize(heard[DESCRIPTION])
    assert normalize(petition.demand) == normalize(heard[DEMAND])
    assert normalize(petition.address) == normalize(heard[ADDRESS])
    assert petition.head_count == 3 and petition.occurred_on is None
    # The model's words are close to what was said.
    assert bench_speech().cer(clips[DESCRIPTION]["reference"], petition.content) < 0.35
    assert bench_speech().cer(clips[DEMAND]["reference"], petition.demand) < 0.35
    # The audio and transcript of each spoken turn are kept with the conversation that registered the petition.
    assert [t.media["transcript"] for t in turns] == [heard[DESCRIPTION], heard[ADDRESS], heard[DEMAND]]
    media_root = speech.resolve_path(twilio_settings.media_dir)
    for turn in turns:
        assert turn.conversation_id == conv.id and turn.media["call_sid"] == CALL
        audio = media_root / turn.media["path"]
        assert audio.is_file() and audio.parent.name == CALL and audio.name == f"{turn.platform_msg_id}.wav"
        assert json.loads(audio.with_suffix(".json").read_text())["text"] == turn.media["transcript"]
    # The tracking number also goes out by SMS to the caller.
    core_tasks.get_runner().join(30)
    assert [m["To"] for m in standin.messages] == [CALLER]
    assert petition.tracking_no in standin.messages[0]["Body"]
