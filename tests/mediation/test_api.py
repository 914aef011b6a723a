"""Mediation over HTTP and WebSocket: the staff API, the join pages, confirmation links and the signalling server."""

from __future__ import annotations

import json
from datetime import timedelta

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cases import audit
from cases.enums import Status
from cases.handling.models import CaseAttachment
from cases.service import get_by_tracking_no
from core.db import utcnow
from mediation import recordings, service
from mediation.models import MediationParticipant, MediationRecording, MediationSession
from server.app import create_app
from tests.mediation.conftest import file_petition, schedule


@pytest.fixture
def client(db, settings, held):
    from core import tasks as core_tasks

    app = create_app(settings)
    # The app installs its own task runner; keep the held one so that tasks run only when a test runs them.
    core_tasks._runner = held
    with TestClient(app, raise_server_exceptions=True, follow_redirects=False) as c:
        yield c


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def recv(ws, timeout: float = 5.0) -> dict:
    """Receive one JSON frame, failing instead of hanging when none comes."""
    async def get():
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()
    message = ws.portal.call(get)
    if message["type"] == "websocket.close":
        return {"type": "closed", "code": message.get("code")}
    return json.loads(message["text"])


def expect(ws, kind: str, *, skip: tuple[str, ...] = ("roster", "hello"), timeout: float = 5.0) -> dict:
    """Receive frames until one of this type; only frames of the `skip` types may come before it."""
    while True:
        frame = recv(ws, timeout)
        if frame["type"] == kind:
            return frame
        assert frame["type"] in skip, f"expected {kind}, got {frame}"


# ---- the staff JSON API ---------------------------------------------------------------------------------------

def test_schedule_read_and_agree_through_the_api(client, db, staff):
    with db.transaction() as s:
        tracking_no = file_petition(s).tracking_no
    body = {"tracking_no": tracking_no, "kind": "joint", "starts_at": (utcnow() + timedelta(hours=1)).isoformat(),
            "duration_minutes": 45, "participants": [
                {"role": "administrative", "username": "hrss1"},
                {"role": "judicial", "name": "周法官", "organisation": "岳麓区人民法院"},
                {"role": "petitioner"}]}
    r = client.post("/api/v1/mediation/sessions", json=body, headers=bearer(staff["office1"]))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["host"] == "office1" and created["status"] == "scheduled"
    people = {p["role"]: p for p in created["participants"]}
    assert people["petitioner"]["invite_status"] == "queued" and people["judicial"]["invite_status"] == "manual"
    assert people["petitioner"]["join_url"].startswith("http://127.0.0.1:8000/mediation/join/")
    session_id = created["id"]

    # The competent department's handler sees it, without the links; a handler of another unit does not see it.
    r = client.get(f"/api/v1/mediation/sessions/{session_id}", headers=bearer(staff["hrss1"]))
    assert r.status_code == 200 and all(p["join_url"] is None for p in r.json()["participants"])
    assert client.get(f"/api/v1/mediation/sessions/{session_id}", headers=bearer(staff["yuelu1"])).status_code == 404
    assert client.get(f"/api/v1/mediation/sessions/{session_id}").status_code == 401
    assert [s["id"] for s in client.get("/api/v1/mediation/sessions", headers=bearer(staff["hrss1"])).json()] == [session_id]

    # The same staff member at an overlapping time: 409 with the reason.
    with db.transaction() as s:
        other = file_petition(s, chat="second-chat").tracking_no
    r = client.post("/api/v1/mediation/sessions", headers=bearer(staff["office2"]), json={
        **body, "tracking_no": other, "host": "office2", "starts_at": (utcnow() + timedelta(hours=1, minutes=30)).isoformat()})
    assert r.status_code == 409 and "hrss1" in r.json()["detail"]

    # Only who runs the session writes the terms.
    terms = {"terms": "公司于月底前支付拖欠工资两万元。"}
    assert client.post(f"/api/v1/mediation/sessions/{session_id}/agreement", json=terms,
                       headers=bearer(staff["hrss1"])).status_code == 403
    r = client.post(f"/api/v1/mediation/sessions/{session_id}/agreement", json=terms, headers=bearer(staff["office1"]))
    assert r.status_code == 200 and r.json()["terms_version"] == 1

    petitioner = people["petitioner"]["join_url"].split("/mediation/join/")[1]
    r = client.post(f"/mediation/join/{petitioner}/confirm", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"confirmed": True, "outcome": None, "waiting_for": ["administrative"],
                                                 "case_action": None}
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.IN_PROGRESS
        department = s.scalar(select(MediationParticipant).where(MediationParticipant.session_id == session_id,
                                                                 MediationParticipant.role == "administrative"))
        department_token = service.invite_token(department)
    # A form post (no JavaScript) confirms too and comes back to the page.
    r = client.post(f"/mediation/join/{department_token}/confirm", data={"agree": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/mediation/join/{department_token}?done=confirmed")
    final = client.get(f"/api/v1/mediation/sessions/{session_id}", headers=bearer(staff["office1"])).json()
    assert final["outcome"] == "agreed" and final["case_action"] == "reply"
    with db.session() as s:
        assert get_by_tracking_no(s, tracking_no).status == Status.REPLIED
    page = client.get(f"/mediation/join/{petitioner}")
    assert page.status_code == 200 and 'data-outcome="agreed"' in page.text


def test_ending_without_agreement_through_the_api(client, db, staff):
    session_id, tracking_no, tokens = schedule(db)
    r = client.post(f"/api/v1/mediation/sessions/{session_id}/end", json={"no_agreement": True},
                    headers=bearer(staff["office1"]))
    assert r.status_code == 422
    r = client.post(f"/api/v1/mediation/sessions/{session_id}/end", json={"no_agreement": True, "reason": "分歧较大"},
                    headers=bearer(staff["office1"]))
    assert r.status_code == 200 and r.json()["outcome"] == "no_agreement"


# ---- join pages -----------------------------------------------------------------------------------------------

def test_the_join_page_shows_the_room_for_a_valid_link(client, db, staff):
    _, tracking_no, tokens = schedule(db)
    r = client.get(f"/mediation/join/{tokens['petitioner']}")
    assert r.status_code == 200 and tracking_no in r.text and "进入会议" in r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    config = json.loads(r.text.split('id="mediation-config">')[1].split("</script>")[0])
    assert config["wsPath"].startswith("/mediation/ws/") and config["host"] is False
    assert "Join" in client.get(f"/mediation/join/{tokens['petitioner']}?lang=en").text
    host_page = client.get(f"/mediation/join/{tokens['host']}").text
    assert 'id="host-panel"' in host_page and 'id="host-panel"' not in r.text
    assert client.get("/mediation/static/room.js").status_code == 200
    assert client.get("/mediation/static/../service.py").status_code == 404


def test_expired_tampered_and_replaced_links_get_a_clear_refusal(client, db, staff, settings):
    session_id, _, tokens = schedule(db)
    token = tokens["petitioner"]
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    r = client.get(f"/mediation/join/{tampered}")
    assert r.status_code == 403 and 'data-reason="tampered"' in r.text and "已被改动" in r.text
    assert client.post(f"/mediation/join/{tampered}/confirm").status_code == 403
    with db.transaction() as s:
        # Move the session into the past beyond the links' grace period.
        ms = s.get(MediationSession, session_id)
        ms.starts_at = utcnow() - timedelta(hours=settings.mediation_link_grace_hours + 3)
        ms.ends_at = ms.starts_at + timedelta(hours=1)
        expired = service.invite_token(next(p for p in ms.participants if p.role == "petitioner"), ms)
    r = client.get(f"/mediation/join/{expired}")
    assert r.status_code == 410 and 'data-reason="expired"' in r.text
    r = client.post(f"/mediation/join/{expired}/confirm", headers={"Accept": "application/json"})
    assert r.status_code == 410 and r.json()["reason"] == "expired"


# ---- the signalling server --------------------------------------------------------------------------------------

def test_signalling_admits_relays_and_refuses(client, db, staff):
    session_id, tracking_no, tokens = schedule(db)
    with db.session() as s:
        ids = {p.role: p.id for p in s.get(MediationSession, session_id).participants}
    with client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['host']}") as host:
        hello = expect(host, "hello")
        assert hello["you"]["host"] is True and hello["ice_servers"] == []
        assert expect(host, "admitted")["peers"] == []
        assert [m["id"] for m in expect(host, "roster")["members"]] == [ids["petition_office"]]
        with client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['petitioner']}") as citizen:
            assert expect(citizen, "hello")["you"]["state"] == "waiting"
            expect(citizen, "waiting")
            roster = expect(host, "roster")
            assert {m["id"]: m["state"] for m in roster["members"]}[ids["petitioner"]] == "waiting"

            # Not admitted: nothing is relayed either way, and only the host admits.
            citizen.send_json({"type": "signal", "to": ids["petition_office"], "data": {"sdp": {"type": "offer"}}})
            assert expect(citizen, "error")["code"] == "not_admitted"
            host.send_json({"type": "signal", "to": ids["petitioner"], "data": {"sdp": {"type": "offer"}}})
            assert expect(host, "error")["code"] == "no_such_peer"
            citizen.send_json({"type": "admit", "id": ids["petitioner"]})
            assert expect(citizen, "error")["code"] == "forbidden"

            host.send_json({"type": "admit", "id": ids["petitioner"]})
            assert expect(host, "peer-joined")["peer"]["id"] == ids["petitioner"]
            admitted = expect(citizen, "admitted")
            assert [p["id"] for p in admitted["peers"]] == [ids["petition_office"]]
            citizen.send_json({"type": "signal", "to": ids["petition_office"], "data": {"sdp": {"type": "offer", "sdp": "v=0"}}})
            relayed = expect(host, "signal")
            assert relayed == {"type": "signal", "from": ids["petitioner"], "data": {"sdp": {"type": "offer", "sdp": "v=0"}}}
            host.send_json({"type": "signal", "to": ids["petitioner"], "data": {"candidate": {"candidate": "c"}}})
            assert expect(citizen, "signal")["data"] == {"candidate": {"candidate": "c"}}

            host.send_json({"type": "mute", "id": ids["petitioner"], "muted": True})
            assert expect(citizen, "mute") == {"type": "mute", "muted": True, "by": "host"}
            roster = expect(host, "roster")
            assert {m["id"]: m["muted"] for m in roster["members"]}[ids["petitioner"]] is True

            host.send_json({"type": "remove", "id": ids["petitioner"]})
            assert expect(citizen, "removed")
            assert expect(host, "peer-left")["id"] == ids["petitioner"]
        # The removed participant's link no longer opens the room.
        with client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['petitioner']}") as again:
            assert recv(again) == {"type": "refused", "reason": "removed",
                                   "detail": "the host removed this participant from the session"}
    with db.session() as s:
        petition = get_by_tracking_no(s, tracking_no)
        actions = [e.action for e in audit.list_for_petition(s, petition.id)]
        assert {"mediation_started", "mediation_admitted", "mediation_removed"} <= set(actions)


def test_signalling_refuses_a_link_for_another_session_and_a_tampered_one(client, db, staff):
    first, _, tokens = schedule(db)
    second, _, _ = schedule(db, by="office2", host="office2", starts_in=timedelta(days=2))
    with client.websocket_connect(f"/mediation/ws/{second}?token={tokens['petitioner']}") as ws:
        frame = recv(ws)
        assert frame["type"] == "refused" and frame["reason"] == "other_session"
        assert recv(ws)["type"] == "closed"
    with client.websocket_connect(f"/mediation/ws/{first}?token={tokens['petitioner']}x") as ws:
        assert recv(ws)["reason"] == "tampered"


def _webm_clip() -> bytes:
    import io

    import av

    buf = io.BytesIO()
    with av.open("/work/shared/data/speech/zh_aishell_BAC009S0724W0121.wav") as src, av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in src.decode(audio=0):
            for piece in resampler.resample(frame):
                for packet in stream.encode(piece):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


class FakeTranscriber:
    def __init__(self):
        self.calls = []

    def transcribe(self, path, *, language=None):
        from channels.phone.transcriber import TranscriptResult

        self.calls.append(language)
        return TranscriptResult("双方同意月底前支付工资", language or "zh", 4.0, [])


def test_recording_needs_everyones_consent_and_lands_on_the_case(client, db, staff, held):
    session_id, tracking_no, tokens = schedule(db)
    with db.session() as s:
        ids = {p.role: p.id for p in s.get(MediationSession, session_id).participants}
    clip = _webm_clip()
    with client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['host']}") as host:
        expect(host, "admitted")
        with client.websocket_connect(f"/mediation/ws/{session_id}?token={tokens['administrative']}") as staff_ws:
            expect(staff_ws, "admitted")  # staff come straight in
            expect(host, "peer-joined")
            # A refusal stops the recording before it starts; nothing can be uploaded.
            host.send_json({"type": "record"})
            pending = expect(host, "record-pending")
            assert pending["waiting"] == [ids["administrative"]]
            request = expect(staff_ws, "consent-request", skip=("roster", "peer-joined"))
            staff_ws.send_json({"type": "consent", "recording_id": request["recording_id"], "agree": False})
            assert expect(host, "record-declined")["by"] == "hrss1"
            r = client.put(f"/mediation/join/{tokens['host']}/recordings/{request['recording_id']}/chunks/0", content=clip)
            assert r.status_code == 409

            host.send_json({"type": "record"})
            pending = expect(host, "record-pending", skip=("roster", "recording"))
            request = expect(staff_ws, "consent-request", skip=("roster", "recording"))
            staff_ws.send_json({"type": "consent", "recording_id": request["recording_id"], "agree": True})
            start = expect(host, "record-start", skip=("roster", "recording"))
            recording_id = start["recording_id"]
            assert expect(staff_ws, "recording", skip=("roster",))["on"] is True
    # Only the host uploads; chunks are small pieces in order; a repeated piece is ignored.
    base = f"/mediation/join/{tokens['host']}/recordings/{recording_id}"
    assert client.put(f"/mediation/join/{tokens['administrative']}/recordings/{recording_id}/chunks/0",
                      content=clip).status_code == 403
    half = len(clip) // 2
    webm = {"Content-Type": "audio/webm;codecs=opus"}
    assert client.put(f"{base}/chunks/0", content=clip[:half], headers=webm).status_code == 204
    assert client.put(f"{base}/chunks/0", content=clip[:half]).status_code == 204
    assert client.put(f"{base}/chunks/1", content=clip[half:]).status_code == 204
    assert client.put(f"{base}/chunks/2", content=b"x" * (recordings.CHUNK_MAX_BYTES + 1)).status_code == 422
    assert client.post(f"{base}/finish").json() == {"status": "processing"}
    assert ("mediation.process_recording", {"recording_id": recording_id}) in held.submitted

    fake = FakeTranscriber()
    recordings.set_transcriber(fake)
    try:
        assert recordings.process_recording(db, recording_id) == "attached"
        assert recordings.process_recording(db, recording_id) == "attached"  # a rerun changes nothing
        assert recordings.transcribe_recording(db, recording_id) == "done"
    finally:
        recordings.set_transcriber(None)
    with db.session() as s:
        rec = s.get(MediationRecording, recording_id)
        assert rec.mime == "audio/webm" and rec.size == len(clip) and recordings.chunk_count(s, recording_id=rec.id) == 0
        files = [s.get(CaseAttachment, aid) for aid in rec.attachment_ids]
        assert [f.content_type for f in files] == ["audio/mpeg", "text/plain"]
        assert files[0].filename.endswith(".mp3") and files[0].size > 1000
        assert files[1].data.decode() == "双方同意月底前支付工资" and rec.transcript_status == "done"
        actions = [e.action for e in audit.list_for_petition(s, get_by_tracking_no(s, tracking_no).id)]
        assert {"mediation_recording_declined", "mediation_recording_started", "mediation_recording"} <= set(actions)
        assert actions.count("attach") == 2
