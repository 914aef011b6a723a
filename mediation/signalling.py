"""WebRTC signalling over a WebSocket: the waiting room, host controls and offer/answer/candidate relay for a mesh.

Each browser opens ``/mediation/ws/{session_id}?token=...``. The server checks the invitation, puts the
participant in the waiting room (or straight in, for the host and staff) and relays SDP and ICE messages
only between admitted participants of the same session. Media never passes through us: every pair of
browsers connects directly (or through the configured TURN server).

Rooms live in this process's memory: run the API as one process (or route a session's sockets to one
process) when mediation is used. The state that matters (admitted, removed, muted, consents) is also in
the database, so a restarted server or a reconnecting browser finds it again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread
from fastapi import WebSocket, WebSocketDisconnect

from cases.service import CaseError
from core.db import Database
from core.settings import Settings, get_settings
from mediation import livekit, recordings, service
from mediation.enums import ROLE_LABELS, RecordingStatus, SessionStatus
from mediation.models import MediationParticipant

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024
_CLOSE = object()


def ice_servers(settings: Settings | None = None, *, identity: str = "mediation") -> list[dict]:
    """Return the RTCIceServer list for browsers; TURN entries get time-limited credentials when a TURN secret is set."""
    settings = settings or get_settings()
    servers = []
    secret = settings.mediation_turn_secret.get_secret_value() if settings.mediation_turn_secret else ""
    for entry in settings.mediation_ice_servers:
        entry = dict(entry)
        urls = entry.get("urls")
        urls_list = urls if isinstance(urls, list) else [urls]
        if secret and any(str(u).startswith(("turn:", "turns:")) for u in urls_list):
            # coturn's use-auth-secret: username "<expiry>:<id>", credential base64(HMAC-SHA1(secret, username)).
            username = f"{int(time.time()) + 12 * 3600}:{identity}"
            digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1)
            entry.update(username=username, credential=base64.b64encode(digest.digest()).decode())
        servers.append(entry)
    return servers


@dataclass
class Member:
    pid: int
    name: str
    role: str
    host: bool
    staff: bool
    socket: WebSocket
    admitted: bool = False
    muted: bool = False
    self_muted: bool = False
    # The SFU's URL and this participant's token (LiveKit provider), handed over only on admission.
    livekit: dict | None = None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    writer: asyncio.Task | None = None

    def public(self) -> dict:
        return {"id": self.pid, "name": self.name, "role": self.role, "host": self.host, "muted": self.muted,
                "self_muted": self.self_muted, "state": "admitted" if self.admitted else "waiting"}

    def send(self, message: Any) -> None:
        self.queue.put_nowait(message)

    async def write(self) -> None:
        try:
            while True:
                message = await self.queue.get()
                if message is _CLOSE:
                    await self.socket.close(code=4000)
                    return
                await self.socket.send_text(json.dumps(message, ensure_ascii=False))
        except Exception:  # the socket is gone (closed, reset, or its stream shut): nothing more to write
            return


class Room:
    """The participants of one session connected to this process."""

    def __init__(self, session_id: int, loop: asyncio.AbstractEventLoop):
        self.session_id, self.loop = session_id, loop
        self.members: dict[int, Member] = {}
        self.recording: dict | None = None

    def admitted(self, *, exclude: int | None = None) -> list[Member]:
        return [m for m in self.members.values() if m.admitted and m.pid != exclude]

    def broadcast(self, message: dict, *, exclude: int | None = None) -> None:
        for member in self.admitted(exclude=exclude):
            member.send(message)

    def push_roster(self) -> None:
        everyone = [m.public() for m in sorted(self.members.values(), key=lambda m: m.pid)]
        inside = [m for m in everyone if m["state"] == "admitted"]
        for member in self.admitted():
            member.send({"type": "roster", "members": everyone if member.host else inside})

    def enter(self, member: Member) -> None:
        """Let an admitted member in: the others expect its offers, it learns whom to call."""
        member.admitted = True
        self.broadcast({"type": "peer-joined", "peer": member.public()}, exclude=member.pid)
        member.send({"type": "admitted", "peers": [m.public() for m in self.admitted(exclude=member.pid)],
                     "recording": bool(self.recording and self.recording.get("on")), "livekit": member.livekit})
        self.push_roster()

    def evict(self, member: Member, message: dict) -> None:
        """Tell a member why, close its socket and let the others know at once (not when its socket winds down)."""
        if self.members.get(member.pid) is member:
            del self.members[member.pid]
            if member.admitted:
                self.broadcast({"type": "peer-left", "id": member.pid})
            self.push_roster()
        member.send(message)
        member.send(_CLOSE)

    def host(self) -> Member | None:
        return next((m for m in self.members.values() if m.host), None)


class Hub:
    """All rooms of this process, reachable from request threads too."""

    def __init__(self):
        self.rooms: dict[int, Room] = {}

    def room(self, session_id: int) -> Room:
        room = self.rooms.get(session_id)
        if room is None:
            room = self.rooms[session_id] = Room(session_id, asyncio.get_running_loop())
        return room

    def post(self, session_id: int, message: dict) -> None:
        """Send a message to everyone admitted to a session, from any thread."""
        room = self.rooms.get(session_id)
        if room is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is room.loop:
            room.broadcast(message)
        elif not room.loop.is_closed():
            room.loop.call_soon_threadsafe(room.broadcast, message)

    def close_all(self, session_id: int, message: dict) -> None:
        """Tell everyone in a session (waiting or not) and close their sockets, from any thread."""
        room = self.rooms.get(session_id)
        if room is None:
            return

        def close() -> None:
            for member in list(room.members.values()):
                member.send(message)
                member.send(_CLOSE)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is room.loop:
            close()
        elif not room.loop.is_closed():
            room.loop.call_soon_threadsafe(close)


hub = Hub()


# ---- database work, run in a worker thread ----------------------------------------------------------------

def _check_in(db: Database, token: str, session_id: int) -> dict:
    with db.transaction() as session:
        p = service.access_invite(session, token, session_id=session_id)
        if p.session.status == SessionStatus.ENDED:
            raise service.InviteRefused("ended", "the session has ended")
        service.do_join(session, participant=p)
        label = ROLE_LABELS.get(p.role, (p.role, p.role))
        name = p.name or p.username or label[0]
        sfu = None
        if p.session.provider == "livekit":
            try:
                sfu = livekit.client_config(room=p.session.room, participant_id=p.id, name=name, host=p.is_host)
            except livekit.LiveKitNotConfigured as exc:
                sfu = {"error": str(exc)}
        return {"pid": p.id, "name": name, "role": str(p.role), "host": p.is_host, "staff": p.username is not None,
                "admitted": service.is_admitted(p), "muted": p.muted, "livekit": sfu}


def _host_op(db: Database, host_pid: int, op, **kwargs):
    with db.transaction() as session:
        host = session.get(MediationParticipant, host_pid)
        result = op(session, host=host, **kwargs)
        return getattr(result, "id", None)


def _recording_op(db: Database, pid: int, op, **kwargs) -> dict:
    with db.transaction() as session:
        participant = session.get(MediationParticipant, pid)
        key = "host" if op is recordings.do_request_recording else "participant"
        rec = op(session, **{key: participant}, **kwargs)
        present = kwargs.get("present", [])
        return {"id": rec.id, "status": str(rec.status), "waiting": recordings.waiting_for_consent(rec, present)}


def _consented(db: Database, recording_id: int, pid: int) -> bool:
    with db.session() as session:
        from mediation.models import MediationRecording

        rec = session.get(MediationRecording, recording_id)
        return bool(rec and (rec.consents or {}).get(str(pid), {}).get("agree"))


def _end(db: Database, host_pid: int) -> None:
    with db.transaction() as session:
        host = session.get(MediationParticipant, host_pid)
        service.do_end_call(session, session_id=host.session_id, actor=service.host_actor_for(session, host))


def _leave(db: Database, pid: int) -> None:
    with db.transaction() as session:
        service.do_leave(session, participant_id=pid)


# ---- the socket -----------------------------------------------------------------------------------------------

async def serve(socket: WebSocket, *, db: Database, session_id: int, token: str) -> None:
    """Run one participant's signalling connection until it closes."""
    await socket.accept()
    try:
        info = await to_thread.run_sync(_check_in, db, token, session_id)
    except service.InviteRefused as exc:
        await socket.send_text(json.dumps({"type": "refused", "reason": exc.reason, "detail": str(exc)}))
        await socket.close(code=4403)
        return
    except CaseError as exc:
        await socket.send_text(json.dumps({"type": "refused", "reason": "unavailable", "detail": str(exc)}))
        await socket.close(code=4409)
        return
    room = hub.room(session_id)
    member = Member(pid=info["pid"], name=info["name"], role=info["role"], host=info["host"], staff=info["staff"],
                    socket=socket, muted=info["muted"], livekit=info["livekit"])
    member.writer = asyncio.create_task(member.write())
    previous = room.members.get(member.pid)
    if previous is not None:
        # The same link opened again (a reload, a second tab): the newest connection wins.
        previous.send({"type": "replaced"})
        previous.send(_CLOSE)
        if previous.admitted:
            room.broadcast({"type": "peer-left", "id": previous.pid}, exclude=previous.pid)
    room.members[member.pid] = member
    member.send({"type": "hello", "you": member.public(), "ice_servers": ice_servers(identity=f"p{member.pid}"),
                 "muted_by_host": member.muted})
    if info["admitted"]:
        room.enter(member)
        await _ask_consent_if_recording(db, room, member)
    else:
        member.send({"type": "waiting"})
        room.push_roster()
    try:
        while True:
            raw = await socket.receive_text()
            if len(raw) > MAX_FRAME:
                member.send({"type": "error", "code": "too_large"})
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                member.send({"type": "error", "code": "bad_json"})
                continue
            if not isinstance(frame, dict):
                member.send({"type": "error", "code": "bad_frame"})
                continue
            try:
                await _dispatch(db, room, member, frame)
            except CaseError as exc:
                member.send({"type": "error", "code": getattr(exc, "reason", "refused"), "detail": str(exc)})
            except (TypeError, ValueError):
                member.send({"type": "error", "code": "bad_frame"})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if room.members.get(member.pid) is member:
            del room.members[member.pid]
            if member.admitted:
                room.broadcast({"type": "peer-left", "id": member.pid})
            room.push_roster()
            try:
                await to_thread.run_sync(_leave, db, member.pid)
            except Exception:  # the database may be gone at shutdown; leaving is bookkeeping
                log.exception("could not record that participant %s left", member.pid)
        member.send(_CLOSE)
        if not room.members and hub.rooms.get(session_id) is room:
            del hub.rooms[session_id]


async def _ask_consent_if_recording(db: Database, room: Room, member: Member) -> None:
    rec = room.recording
    if rec and not member.host:
        if not await to_thread.run_sync(_consented, db, rec["id"], member.pid):
            member.send({"type": "consent-request", "recording_id": rec["id"]})


def _target(room: Room, frame: dict) -> Member | None:
    try:
        return room.members.get(int(frame.get("id")))
    except (TypeError, ValueError):
        return None


async def _dispatch(db: Database, room: Room, member: Member, frame: dict) -> None:
    kind = frame.get("type")
    if kind == "ping":
        member.send({"type": "pong"})
        return
    if kind == "signal":
        if not member.admitted:
            member.send({"type": "error", "code": "not_admitted", "detail": "wait until the host admits you"})
            return
        try:
            target = room.members.get(int(frame.get("to")))
        except (TypeError, ValueError):
            target = None
        if target is None or not target.admitted:
            member.send({"type": "error", "code": "no_such_peer", "to": frame.get("to")})
            return
        target.send({"type": "signal", "from": member.pid, "data": frame.get("data")})
        return
    if kind == "self-mute":
        member.self_muted = bool(frame.get("muted"))
        room.push_roster()
        return
    if kind == "consent":
        rec = room.recording
        if not rec or rec.get("id") != frame.get("recording_id"):
            member.send({"type": "error", "code": "no_recording"})
            return
        present = [m.pid for m in room.admitted()]
        result = await to_thread.run_sync(lambda: _recording_op(
            db, member.pid, recordings.do_consent, recording_id=rec["id"], agree=bool(frame.get("agree")), present=present))
        _after_consent(room, member, result, agreed=bool(frame.get("agree")))
        return
    if not member.host:
        member.send({"type": "error", "code": "forbidden", "detail": "only the host may do this"})
        return
    await _dispatch_host(db, room, member, kind, frame)


def _after_consent(room: Room, member: Member, result: dict, *, agreed: bool) -> None:
    host = room.host()
    status = result["status"]
    if status == RecordingStatus.RECORDING:
        if not room.recording.get("on"):
            room.recording["on"] = True
            if host:
                host.send({"type": "record-start", "recording_id": result["id"]})
            room.broadcast({"type": "recording", "on": True})
        elif host:
            host.send({"type": "record-pending", "recording_id": result["id"], "waiting": result["waiting"]})
        return
    if not agreed:
        if host:
            host.send({"type": "record-declined", "recording_id": result["id"], "by": member.name,
                       "stop": status == RecordingStatus.PROCESSING})
        room.recording = None
        room.broadcast({"type": "recording", "on": False})


async def _dispatch_host(db: Database, room: Room, member: Member, kind: str, frame: dict) -> None:
    if kind in ("admit", "admit-all"):
        targets = [m for m in room.members.values() if not m.admitted] if kind == "admit-all" else [_target(room, frame)]
        for target in targets:
            if target is None:
                if kind == "admit":
                    # Admitting someone not connected yet lets them straight in when they come.
                    await to_thread.run_sync(lambda: _host_op(db, member.pid, service.do_admit,
                                                              participant_id=int(frame.get("id"))))
                continue
            await to_thread.run_sync(lambda t=target: _host_op(db, member.pid, service.do_admit, participant_id=t.pid))
            if not target.admitted:
                room.enter(target)
                await _ask_consent_if_recording(db, room, target)
        return
    if kind == "remove":
        target_id = int(frame.get("id"))
        await to_thread.run_sync(lambda: _host_op(db, member.pid, service.do_remove, participant_id=target_id))
        target = room.members.get(target_id)
        if target is not None:
            room.evict(target, {"type": "removed"})
        return
    if kind == "mute":
        target_id, muted = int(frame.get("id")), bool(frame.get("muted", True))
        await to_thread.run_sync(lambda: _host_op(db, member.pid, service.do_mute, participant_id=target_id, muted=muted))
        target = room.members.get(target_id)
        if target is not None:
            target.muted = muted
            target.send({"type": "mute", "muted": muted, "by": "host"})
        room.push_roster()
        return
    if kind == "record":
        present = [m.pid for m in room.admitted()]
        result = await to_thread.run_sync(lambda: _recording_op(db, member.pid, recordings.do_request_recording,
                                                                present=present))
        room.recording = {"id": result["id"], "on": result["status"] == RecordingStatus.RECORDING}
        if room.recording["on"]:
            member.send({"type": "record-start", "recording_id": result["id"]})
            room.broadcast({"type": "recording", "on": True})
        else:
            member.send({"type": "record-pending", "recording_id": result["id"], "waiting": result["waiting"]})
            for pid in result["waiting"]:
                target = room.members.get(pid)
                if target is not None:
                    target.send({"type": "consent-request", "recording_id": result["id"]})
        return
    if kind == "record-stopped":
        room.recording = None
        room.broadcast({"type": "recording", "on": False})
        return
    if kind == "end":
        await to_thread.run_sync(_end, db, member.pid)
        for other in list(room.members.values()):
            other.send({"type": "ended"})
            other.send(_CLOSE)
        return
    member.send({"type": "error", "code": "unknown", "detail": f"unknown frame type {kind!r}"})
