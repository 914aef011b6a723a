"""Hostile files: path tricks in attachment names, overlong audio, client-chosen media names."""

from __future__ import annotations

import io
import re
import uuid
import wave
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cases.enums import Status
from cases.handling import service as handling
from cases.handling.models import CaseAttachment
from channels.models import InboxMessage
from channels.phone import transcriber as speech
from channels.wechat.api import issue_session
from core.accounts import create_user
from server.app import create_app
from tests.cases.helpers import drive

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2
HOSTILE_NAMES = ["../../etc/passwd", "..\\..\\win.ini", "a/b.png", "evil\x00.png", "bell\x07\x1b[31mred.png",
                 "x" * 1000 + ".png", "\u202egnp.exe", "invoice\u202efdp.png", "..", ".htaccess", "page.html",
                 "C:\\Windows\\system32\\cmd.exe", "/etc/shadow", "  . ", "报告<script>alert(1)</script>.png"]
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _disposition_name(header: str) -> str:
    match = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    assert match, header
    return unquote(match.group(1))


@sqlite_only
def test_hostile_attachment_names_are_stored_safe_and_served_as_downloads(db, settings):
    with db.transaction() as s:
        tracking_no = drive(s, Status.IN_PROGRESS).tracking_no
        create_user(s, username="triage-sec", password="console-test-2026", role="triage")
    client = TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False)
    assert client.post("/console/login", data={"username": "triage-sec", "password": "console-test-2026"}).status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/account").text).group(1)
    case_url = f"/console/cases/{tracking_no}"
    for name in HOSTILE_NAMES:
        r = client.post(f"{case_url}/attachments", data={"csrf": csrf}, files={"file": (name, PNG, "image/png")})
        assert r.status_code == 303, (name, r.text[:300])
    with db.session() as s:
        rows = list(s.scalars(select(CaseAttachment).order_by(CaseAttachment.id)))
    assert len(rows) == len(HOSTILE_NAMES)
    stored = [row.filename for row in rows]
    for name, safe in zip(HOSTILE_NAMES, stored, strict=True):
        assert safe.endswith(".png") and 5 <= len(safe) <= handling.MAX_FILENAME, (name, safe)
        assert not set(safe) & set('/\\<>:"|?*'), (name, safe)
        assert all(ch.isprintable() for ch in safe) and not safe.startswith("."), (name, safe)
    assert stored[:3] == ["passwd.png", "win.ini.png", "b.png"]
    assert stored[6] == "gnp.exe.png" and stored[7] == "invoicefdp.png"  # no right-to-left override left
    assert stored[8] == "attachment.png" and stored[9] == "htaccess.png" and stored[10] == "page.html.png"

    # Test clients percent-encode control characters in multipart names; a raw body carries them as they are.
    for raw in ("evil\x00.png", "bell\x07\x1b[31mred\u202e.png"):
        boundary = "hostile" + uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\n"
                f"Content-Disposition: form-data; name=\"file\"; filename=\"{raw}\"\r\nContent-Type: image/png\r\n\r\n"
                ).encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
        r = client.post(f"{case_url}/attachments", content=body,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 303, r.text[:300]
    with db.session() as s:
        raw_stored = [row.filename for row in s.scalars(select(CaseAttachment).order_by(CaseAttachment.id))][len(rows):]
        rows = list(s.scalars(select(CaseAttachment).order_by(CaseAttachment.id)))
    assert raw_stored == ["evil.png", "bell[31mred.png"]

    page = client.get(case_url).text
    assert "<script>alert(1)" not in page
    for row in rows:
        r = client.get(f"{case_url}/attachments/{row.id}")
        assert r.status_code == 200 and r.content == PNG
        assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        disposition = r.headers["content-disposition"]
        assert disposition.startswith("attachment;") and _disposition_name(disposition) == row.filename
        ascii_name = re.search(r'filename="([^"]*)"', disposition).group(1)
        assert ascii_name and all(32 <= ord(ch) < 127 and ch not in '"\\/' for ch in ascii_name)
    # HTML is refused whatever it is called; a name cannot smuggle a type past the list.
    r = client.post(f"{case_url}/attachments", data={"csrf": csrf},
                    files={"file": ("x.png", b"<script>alert(1)</script>", "text/html")})
    assert r.status_code == 422 and "text/html cannot be attached" in r.text


def _wav(seconds: float, rate: int = 4000) -> bytes:
    """Write a quiet 8-bit mono WAV of this length (4 kHz keeps two minutes under the upload limit)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(bytes([128, 132, 128, 124]) * int(seconds * rate / 4))
    return buf.getvalue()


class CountingTranscriber:
    """Stands in for Whisper and counts what reaches it (the point is what never does)."""

    def __init__(self):
        self.calls = []

    def transcribe(self, path, *, language=None):
        self.calls.append(Path(path))
        return speech.TranscriptResult("我要投诉", "zh", 1.0, [])


@pytest.fixture
def mini(db, settings, tmp_path):
    """A client of the app with a mini-program session, media under tmp_path and a counting transcriber."""
    previous = speech._transcriber
    counting = CountingTranscriber()
    speech.set_transcriber(counting)
    app = create_app(settings.model_copy(update={"media_dir": str(tmp_path / "media"), "max_recording_seconds": 120}))
    headers = {"Authorization": f"Bearer {issue_session('o6_sec' + uuid.uuid4().hex[:20])}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, headers, counting, tmp_path / "media"
    speech.set_transcriber(previous)


def upload(client, headers, kind: str, name: str, data: bytes, content_type: str):
    return client.post("/api/v1/miniprogram/chat/media", headers=headers, files={"file": (name, data, content_type)},
                       data={"kind": kind, "message_id": "m-" + uuid.uuid4().hex[:12]})


@sqlite_only
def test_overlong_voice_is_refused_before_transcription_and_nothing_is_kept(mini, db):
    client, headers, counting, media = mini
    long_wav = _wav(130)
    assert len(long_wav) < 950_000  # under the size limit: only its length gives it away
    r = upload(client, headers, "voice", "rec.wav", long_wav, "audio/wav")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "130" in detail and "120" in detail and "超过" in detail and "limit" in detail
    assert counting.calls == [] and not list(media.rglob("*.wav"))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 0

    r = upload(client, headers, "voice", "rec.wav", _wav(5), "audio/wav")
    assert r.status_code == 200 and r.json()["transcript"] == "我要投诉" and len(counting.calls) == 1


@sqlite_only
def test_client_chosen_media_names_never_become_paths(mini, db):
    client, headers, _counting, media = mini
    for name in ("../../../../tmp/owned.png", "..\\..\\owned.png", "/etc/cron.d/owned", "a\x00b.png"):
        r = upload(client, headers, "image", name, PNG, "image/png")
        assert r.status_code == 200, r.text
    stored = [p for p in media.rglob("*") if p.is_file()]
    assert len(stored) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}\.png", p.name) and p.resolve().is_relative_to(media.resolve()) for p in stored)
    assert not Path("/tmp/owned.png").exists()
    # A type the bytes do not bear out is refused, whatever the name and declared type say.
    r = upload(client, headers, "image", "x.png", b"<html><script>alert(1)</script>", "image/png")
    assert r.status_code == 415
