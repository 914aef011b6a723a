"""Reminders before the start (once each), LiveKit tokens and TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.models import ConversationMessage
from cases import audit
from cases.service import get_by_tracking_no
from channels.models import OutboxMessage
from mediation import livekit, signalling, tasks
from mediation.models import MediationParticipant, MediationSession
from tests.mediation.conftest import ANCHOR, schedule


def _reminders(s) -> int:
    return s.scalar(select(func.count()).select_from(ConversationMessage).where(
        ConversationMessage.author == "mediation", ConversationMessage.text.contains("提醒"))) or 0


def test_citizens_are_reminded_once_before_the_start(db, staff, held, settings):
    session_id, tracking_no, tokens = schedule(db, starts_in=timedelta(hours=1))
    with db.session() as s:
        starts_at = s.get(MediationSession, session_id).starts_at
        outbox_before = s.scalar(select(func.count()).select_from(OutboxMessage))
    window = timedelta(minutes=settings.mediation_reminder_minutes)
    # Too early: nothing.
    assert tasks.remind_due(now=starts_at - window - timedelta(minutes=1)) == 0
    # In the window: the petitioner (web chat) and the outside mediator (SMS); staff see the console instead.
    assert tasks.remind_due(now=starts_at - window + timedelta(minutes=1)) == 2
    # Again, and again at the start: no one is reminded twice.
    assert tasks.remind_due(now=starts_at - timedelta(minutes=5)) == 0
    assert tasks.remind_due(now=starts_at) == 0
    with db.session() as s:
        assert _reminders(s) == 2
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_before + 2
        reminded = s.scalars(select(MediationParticipant).where(MediationParticipant.reminded_at.is_not(None))).all()
        assert sorted(p.role for p in reminded) == ["peoples_mediation", "petitioner"]
        petitioner = next(p for p in reminded if p.role == "petitioner")
        line = s.scalar(select(ConversationMessage).where(ConversationMessage.text.contains("提醒"),
                                                          ConversationMessage.text.contains(tokens["petitioner"])))
        assert line is not None and petitioner.reminded_at is not None
        event = next(e for e in audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)
                     if e.action == "mediation_reminded")
        assert sorted(event.data["participants"]) == sorted(p.id for p in reminded)


def test_a_cancelled_session_reminds_no_one(db, staff, held, settings):
    from mediation import service
    from tests.mediation.conftest import actor

    session_id, _, _ = schedule(db, starts_in=timedelta(minutes=10))
    with db.transaction() as s:
        service.do_cancel(s, session_id=session_id, reason="改期", actor=actor(s, "office1"))
    assert tasks.remind_due(now=ANCHOR) == 0


def test_the_reminder_task_is_registered_for_the_scheduler():
    from core.tasks import registered

    assert {"mediation.send_reminders", "mediation.process_recording", "mediation.transcribe_recording"} <= set(registered())


def test_livekit_tokens_carry_the_room_grant(settings, monkeypatch):
    monkeypatch.setattr(settings, "mediation_provider", "livekit")
    monkeypatch.setattr(settings, "livekit_url", "wss://sfu.example.cn")
    monkeypatch.setattr(settings, "livekit_api_key", "APIkey123")
    secret = "a-livekit-secret-of-at-least-32-characters"
    monkeypatch.setattr(settings, "livekit_api_secret", SecretStr(secret))
    conf = livekit.client_config(room="room-abc", participant_id=7, name="王小明", host=False, settings=settings)
    assert conf["url"] == "wss://sfu.example.cn"
    claims = jwt.decode(conf["token"], secret, algorithms=["HS256"])
    assert claims["iss"] == "APIkey123" and claims["sub"] == "p7" and claims["name"] == "王小明"
    assert claims["video"]["roomJoin"] is True and claims["video"]["room"] == "room-abc"
    assert "roomAdmin" not in claims["video"] and claims["exp"] > claims["nbf"]
    host = jwt.decode(livekit.access_token(room="room-abc", identity="p1", name="主持人", host=True, settings=settings),
                      secret, algorithms=["HS256"])
    assert host["video"]["roomAdmin"] is True
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(conf["token"], "another-secret-of-at-least-32-characters", algorithms=["HS256"])
    monkeypatch.setattr(settings, "livekit_api_secret", None)
    with pytest.raises(livekit.LiveKitNotConfigured):
        livekit.client_config(room="r", participant_id=1, name="x", host=False, settings=settings)


def test_turn_servers_get_time_limited_credentials(settings, monkeypatch):
    monkeypatch.setattr(settings, "mediation_ice_servers", [{"urls": "stun:stun.example.cn:3478"},
                                                            {"urls": ["turn:turn.example.cn:3478?transport=udp"]}])
    assert signalling.ice_servers(settings) == settings.mediation_ice_servers
    monkeypatch.setattr(settings, "mediation_turn_secret", SecretStr("coturn-secret"))
    stun, turn = signalling.ice_servers(settings, identity="p9")
    assert stun == {"urls": "stun:stun.example.cn:3478"}
    expiry, who = turn["username"].split(":")
    assert who == "p9" and int(expiry) > 0
    expected = base64.b64encode(hmac.new(b"coturn-secret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


def test_a_recording_is_transcribed_by_the_phone_channels_whisper():
    """The real path, cheaply: a few seconds of WebM/Opus as the browser uploads it → MP3 → Whisper."""
    import tempfile

    from mediation import recordings
    from tests.mediation.test_api import _webm_clip

    model = recordings.get_settings().transcriber_model_dir
    from channels.phone.transcriber import resolve_path
    if not (resolve_path(model) / "model.bin").is_file():
        pytest.skip(f"no Whisper model in {model} (petition models install)")
    parts, duration = recordings.transcode_to_mp3(_webm_clip())
    assert len(parts) == 1 and 4.0 < duration < 4.6
    recordings.set_transcriber(None)
    with tempfile.NamedTemporaryFile(suffix=".mp3") as handle:
        handle.write(parts[0])
        handle.flush()
        text = recordings.get_transcriber().transcribe(handle.name, language="zh").text
    # The reference is 广州市房地产中介协会分析 (AISHELL-1); the base model gets most of it.
    assert "广州" in text and "协会" in text, text
