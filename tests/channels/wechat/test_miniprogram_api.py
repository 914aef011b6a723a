"""The mini-program's own routes: voice, image and location in the chat; a citizen's timeline, feedback, review and
supplements on their own petitions (channels/wechat/miniprogram_api.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from wechat_kit import make_app, settle

from cases import service as cases
from cases.handling import service as handling
from cases.models import AuditEvent, Feedback, Supplement
from cases.schemas import PetitionCreate, TransitionIn
from channels.models import InboxMessage
from channels.phone import transcriber as speech
from channels.wechat import miniprogram_petitions, miniprogram_service
from core.accounts import Actor, Role
from core.db import utcnow
from core.settings import ROOT, get_settings

STAFF = Actor("mini-test-staff", Role.ADMIN)
USER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
OTHER = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64
SPEECH = ROOT.parent / "shared" / "data" / "speech"


@pytest.fixture
def mini(db, wechat_settings):
    """A client of the whole app (it includes the mini-program routes of channels/wechat/miniprogram_api.py)."""
    app = make_app(wechat_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
        settle()
    app.state.db.dispose()


class FakeTranscriber:
    def __init__(self, text: str = "", error: Exception | None = None):
        self.text, self.error, self.calls = text, error, []

    def transcribe(self, path, *, language=None):
        self.calls.append(Path(path))
        if self.error:
            raise self.error
        return speech.TranscriptResult(text=self.text, language="zh", duration_s=2.0)


@pytest.fixture
def transcriber():
    fake = FakeTranscriber()
    previous = speech._transcriber
    speech.set_transcriber(fake)
    yield fake
    speech.set_transcriber(previous)


def login(client, standin, openid: str = USER) -> dict:
    code = uuid.uuid4().hex
    standin.logins[code] = openid
    r = client.post("/api/v1/miniprogram/login", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def file_petition(db, openid: str = USER) -> str:
    data = PetitionCreate(title="楼下烧烤店油烟扰民", content="我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开。",
                          channel="miniprogram", area_code="430104", address="枫林三路12号")
    with db.transaction() as s:
        petition, _ = cases.create_petition(s, data=data, actor=Actor("bot", Role.AGENT),
                                            source=cases.source_digest("miniprogram", openid))
        return petition.tracking_no


def replied(db, openid: str = USER) -> str:
    """File a petition for the user and move it to a reply, with an internal note on the way."""
    tracking_no = file_petition(db, openid)
    with db.transaction() as s:
        for change in (TransitionIn(action="accept"), TransitionIn(action="assign", unit="YL-GOV", reason="属地管辖"),
                       TransitionIn(action="start"), TransitionIn(action="reply", text="已责令烧烤店安装油烟净化器。")):
            cases.do_transition(s, tracking_no=tracking_no, actor=STAFF, change=change)
            if change.action == "start":
                handling.create_note(s, petition=cases.get_by_tracking_no(s, tracking_no), text="内部：店主是老上访户",
                                     actor=STAFF)
    return tracking_no


def timeline(client, headers, tracking_no: str, **params):
    r = client.get(f"/api/v1/miniprogram/petitions/{tracking_no}/timeline", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_route_needs_a_session(mini):
    for method, url, kwargs in [
        ("post", "/api/v1/miniprogram/chat/media", {"data": {"kind": "image", "message_id": "m-00000001"},
                                                    "files": {"file": ("a.png", PNG, "image/png")}}),
        ("post", "/api/v1/miniprogram/chat/location", {"json": {"message_id": "m-00000001", "latitude": 28.2,
                                                                "longitude": 112.9}}),
        ("get", "/api/v1/miniprogram/petitions/XF-20250101-000001/timeline", {}),
        ("post", "/api/v1/miniprogram/petitions/XF-20250101-000001/feedback", {"json": {"satisfied": True}}),
        ("post", "/api/v1/miniprogram/petitions/XF-20250101-000001/review", {"json": {"reason": "x"}}),
        ("post", "/api/v1/miniprogram/petitions/XF-20250101-000001/supplements", {"json": {"text": "x"}}),
    ]:
        r = getattr(mini, method)(url, headers={"Authorization": "Bearer forged.token"}, **kwargs)
        assert r.status_code == 401, (url, r.text)


def test_the_timeline_shows_what_a_citizen_may_see_and_may_do(mini, db, standin):
    headers = login(mini, standin)
    tracking_no = replied(db)
    data = timeline(mini, headers, tracking_no)
    assert [e["action"] for e in data["events"]] == ["register", "accept", "assign", "start", "reply"]
    assigned = data["events"][2]
    assert assigned["unit"] == "岳麓区人民政府" and assigned["reason"] is None  # staff reasons stay inside
    assert data["events"][1]["due_at"]  # accepting set the handling deadline
    with db.session() as s:  # the internal note is in the audit log, just not shown
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "note")) == 1
    assert "内部" not in str(data)
    assert data["status"] == "replied" and data["status_name"] and data["can_feedback"] and data["can_request_review"]
    assert data["review_request_due_at"] and data["feedback_due_at"] and data["can_supplement"]
    english = timeline(mini, headers, tracking_no, locale="en")
    assert english["status_name"] == "replied" and english["events"] == data["events"]

    stranger = login(mini, standin, OTHER)
    assert mini.get(f"/api/v1/miniprogram/petitions/{tracking_no}/timeline", headers=stranger).status_code == 404
    assert mini.post(f"/api/v1/miniprogram/petitions/{tracking_no}/feedback", headers=stranger,
                     json={"satisfied": True}).status_code == 404
    assert mini.get("/api/v1/miniprogram/petitions/" + "X" * 40 + "/timeline", headers=headers).status_code == 404


def test_unsatisfied_feedback_then_a_review_request(mini, db, standin):
    headers = login(mini, standin)
    tracking_no = replied(db)
    url = f"/api/v1/miniprogram/petitions/{tracking_no}"
    r = mini.post(f"{url}/feedback", headers=headers, json={"satisfied": False, "reason": "  "})
    assert r.status_code == 422 and "why" in r.json()["detail"]
    r = mini.post(f"{url}/feedback", headers=headers, json={"satisfied": False, "reason": "油烟还是很大"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "replied" and not data["can_feedback"] and data["can_request_review"]
    assert data["events"][-1] == {**data["events"][-1], "action": "feedback", "satisfied": False, "reason": "油烟还是很大"}
    again = mini.post(f"{url}/feedback", headers=headers, json={"satisfied": True})
    assert again.status_code == 409
    assert mini.post(f"{url}/review", headers=headers, json={"reason": ""}).status_code == 422
    r = mini.post(f"{url}/review", headers=headers, json={"reason": "整改没有落实，申请复查"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "review_requested" and not data["can_request_review"] and data["due_at"]
    assert data["events"][-1]["action"] == "request_review" and data["events"][-1]["due_at"]
    assert mini.post(f"{url}/review", headers=headers, json={"reason": "再来一次"}).status_code == 409
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 1
        actors = set(s.scalars(select(AuditEvent.actor).where(AuditEvent.action.in_(["feedback", "request_review"]))))
    assert actors == {miniprogram_petitions.CITIZEN.name}


def test_satisfied_feedback_closes_and_a_late_review_is_refused(mini, db, standin):
    headers = login(mini, standin)
    closing, late = replied(db), replied(db)
    r = mini.post(f"/api/v1/miniprogram/petitions/{closing}/feedback", headers=headers, json={"satisfied": True})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "closed" and not data["can_feedback"] and not data["can_supplement"]
    assert [e["action"] for e in data["events"]][-2:] == ["feedback", "close"]
    with db.transaction() as s:
        cases.get_by_tracking_no(s, late).review_request_due_at = utcnow() - timedelta(days=1)
    assert not timeline(mini, headers, late)["can_request_review"]
    r = mini.post(f"/api/v1/miniprogram/petitions/{late}/review", headers=headers, json={"reason": "不满意"})
    assert r.status_code == 409 and "window" in r.json()["detail"]
    before = file_petition(db)
    r = mini.post(f"/api/v1/miniprogram/petitions/{before}/feedback", headers=headers, json={"satisfied": True})
    assert r.status_code == 409  # nothing replied yet


def test_supplements_with_words_and_a_photo(mini, db, standin, wechat_settings):
    headers = login(mini, standin)
    tracking_no = file_petition(db)
    url = f"/api/v1/miniprogram/petitions/{tracking_no}/supplements"
    r = mini.post(url, headers=headers, json={"text": "晚上十点以后最严重"})
    assert r.status_code == 200 and r.json()["events"][-1]["action"] == "supplement"
    r = mini.post(f"{url}/image", headers=headers, data={"text": "油烟照片"}, files={"file": ("x.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    bad = mini.post(f"{url}/image", headers=headers, files={"file": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert bad.status_code == 415
    stranger = login(mini, standin, OTHER)
    assert mini.post(f"{url}/image", headers=stranger, files={"file": ("x.png", PNG, "image/png")}).status_code == 404
    with db.session() as s:
        rows = s.scalars(select(Supplement).order_by(Supplement.id)).all()
    assert [(r.text, r.channel) for r in rows] == [("晚上十点以后最严重", "miniprogram"), ("油烟照片", "miniprogram")]
    [photo] = rows[1].attachments
    stored = Path(photo["path"])
    assert stored.read_bytes() == PNG and stored.suffix == ".png"
    assert str(stored).startswith(wechat_settings.media_dir) and "x.png" not in stored.name
    assert len(list(Path(wechat_settings.media_dir).rglob("*.*"))) == 1  # the refused ones left nothing behind
    detail = mini.get(f"/api/v1/miniprogram/petitions/{tracking_no}", headers=headers).json()
    assert [s["attachments"] for s in detail["supplements"]] == [0, 1]
    closed = replied(db)
    mini.post(f"/api/v1/miniprogram/petitions/{closed}/feedback", headers=headers, json={"satisfied": True})
    r = mini.post(f"/api/v1/miniprogram/petitions/{closed}/supplements", headers=headers, json={"text": "还有"})
    assert r.status_code == 409


def test_a_voice_message_is_transcribed_once_and_answered(mini, db, standin, transcriber):
    headers = login(mini, standin)
    transcriber.text = "我要投诉"
    form = {"kind": "voice", "message_id": "voice-00000001", "locale": "zh-CN"}
    r = mini.post("/api/v1/miniprogram/chat/media", headers=headers, data=form,
                  files={"file": ("rec.mp3", MP3, "audio/mpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcript"] == "我要投诉" and "发生了什么" in body["replies"][0]["text"]
    again = mini.post("/api/v1/miniprogram/chat/media", headers=headers, data=form,
                      files={"file": ("rec.mp3", MP3, "audio/mpeg")})
    assert again.json() == body and len(transcriber.calls) == 1  # a retried upload is not transcribed twice
    assert transcriber.calls[0].suffix == ".mp3" and transcriber.calls[0].read_bytes() == MP3
    with db.session() as s:
        [row] = s.scalars(select(InboxMessage)).all()
    assert row.text == "我要投诉" and row.media["type"] == "voice" and row.media["source"] == "transcriber"


@pytest.mark.parametrize("case", ["silent", "too_long", "not_audio", "too_big"])
def test_unusable_recordings_are_refused_and_nothing_is_kept(mini, db, standin, transcriber, wechat_settings, case):
    headers = login(mini, standin)
    payload, status = MP3, 422
    if case == "too_long":
        transcriber.error = speech.RecordingTooLong(600, 120)
    elif case == "not_audio":
        payload, status = b"MZ\x90\x00 an executable", 415
    elif case == "too_big":
        payload, status = b"ID3" + b"\x00" * miniprogram_service.MAX_MEDIA_BYTES, 413
    r = mini.post("/api/v1/miniprogram/chat/media", headers=headers,
                  data={"kind": "voice", "message_id": f"voice-{case}-0001"}, files={"file": ("rec.mp3", payload)})
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    if case == "too_long":
        assert "120" in r.json()["detail"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 0
    assert not list(Path(wechat_settings.media_dir).rglob("*.*"))


def test_a_photo_and_a_place_in_the_chat(mini, db, standin):
    headers = login(mini, standin)
    chat = mini.post("/api/v1/miniprogram/chat", headers=headers,
                     json={"message_id": "text-00000001", "text": "我要投诉", "locale": "zh-CN"})
    assert "发生了什么" in chat.json()["replies"][0]["text"]
    mini.post("/api/v1/miniprogram/chat", headers=headers,
              json={"message_id": "text-00000002", "text": "我家楼下的烧烤店每天晚上油烟很大，熏得窗户都不能开"})
    r = mini.post("/api/v1/miniprogram/chat/location", headers=headers, json={
        "message_id": "loc-00000001", "latitude": 28.2136, "longitude": 112.8841, "name": "枫林三路12号",
        "address": "湖南省长沙市岳麓区麓谷街道"})
    assert r.status_code == 200, r.text
    answer = " ".join(x["text"] for x in r.json()["replies"])
    assert "哪里" not in answer and r.json()["transcript"] is None
    r = mini.post("/api/v1/miniprogram/chat/media", headers=headers, data={"kind": "image", "message_id": "img-00000001"},
                  files={"file": ("p.png", PNG, "image/png")})
    assert r.status_code == 200 and r.json()["replies"]
    with db.session() as s:
        rows = s.scalars(select(InboxMessage).order_by(InboxMessage.id)).all()
    assert rows[2].text == "我的位置：湖南省长沙市岳麓区麓谷街道 枫林三路12号"
    assert rows[2].media == {"type": "location", "lat": 28.2136, "lng": 112.8841,
                             "label": "湖南省长沙市岳麓区麓谷街道 枫林三路12号"}
    assert rows[3].media["type"] == "image" and Path(rows[3].media["path"]).read_bytes() == PNG
    bad = mini.post("/api/v1/miniprogram/chat/location", headers=headers,
                    json={"message_id": "loc-00000002", "latitude": 91, "longitude": 0})
    assert bad.status_code == 422


def test_a_real_mandarin_recording_reaches_the_bot(mini, db, standin):
    """The real speech engine on a real clip, uploaded as the mini-program's recorder would."""
    model = Path(get_settings().transcriber_model_dir)
    model = model if model.is_absolute() else ROOT / model
    clip = SPEECH / "zh_aishell_BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
    if not (model / "model.bin").is_file() or not clip.is_file():
        pytest.skip("no speech model installed or no speech clips")
    previous = speech._transcriber
    if not isinstance(previous, speech.WhisperTranscriber):
        speech.set_transcriber(speech.WhisperTranscriber(model))
    try:
        headers = login(mini, standin)
        r = mini.post("/api/v1/miniprogram/chat/media", headers=headers,
                      data={"kind": "voice", "message_id": "voice-real-0001"},
                      files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
    finally:
        speech.set_transcriber(previous)
    assert r.status_code == 200, r.text
    heard = r.json()["transcript"]
    assert sum(ch in heard for ch in "广州市房地产中介协会分析") >= 8, heard
    assert r.json()["replies"]
