"""WebRTC signalling over a WebSocket: the waiting room, host controls and offer/answer/candidate relay for a mesh.

Each browser opens ``/mediation/ws/{session_id}?token=...``. The server checks the invitation, puts the participant
in the waiting room (or straight in, for the host and staff) and relays SDP and ICE messages only between admitted
participants of the same session (the rooms themselves are in ``mediation.rooms``). Media never passes through us:
every pair of browsers connects directly (or through the configured TURN server).

Without Redis (the embedded default) a session's room lives in this process's memory. With several API processes
(``uvicorn --workers N``, several containers behind a load balancer) set ``PETITION_MEDIATION_REDIS_URL`` (a
``redis://`` broker URL is used when it is unset; keys start with ``PETITION_MEDIATION_REDIS_PREFIX``): each process
keeps its own sockets and shares the rooms through Redis (``mediation.relay``). It publishes every room event (joins
and leaves, admissions, host controls, signals addressed to a participant, roster changes) on the session's channel
and delivers the events of the others to its own members; an action on a participant connected elsewhere (admit,
mute, remove) is carried out by the process that holds the socket. Who is connected where is a Redis hash kept alive
by heartbeats, so the members of a process that vanishes leave the room within the presence TTL
(``PETITION_MEDIATION_PRESENCE_TTL_S``). The state that matters (admitted, removed, muted, consents) is also in the
database, so a restarted server or a reconnecting browser finds it again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time

from anyio import to_thread
from fastapi import WebSocket, WebSocketDisconnect

from cases.service import CaseError
from core.db import Database
from core.settings import Settings, get_settings
from mediation import livekit, recordings, relay, rooms, service
from mediation.enums import ROLE_LABELS, RecordingStatus, SessionStatus
from mediation.models import MediationParticipant
from mediation.rooms import CLOSE, Member, Room, hub

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024

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


async def _leave_quietly(db: Database, pid: int) -> None:
    try:
        await to_thread.run_sync(_leave, db, pid)
    except Exception:  # the database may be gone at shutdown; leaving is bookkeeping
        log.exception("could not record that participant %s left", pid)


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
    try:
        room = await hub.join(session_id, db=db)
    except relay.RelayUnavailable as exc:
        # Redis is down: the browser reconnects by itself (1013: try again later) instead of joining half a room.
        log.warning("mediation: no relay for session %s: %s", session_id, exc)
        await _leave_quietly(db, info["pid"])
        await socket.send_text(json.dumps({"type": "error", "code": "unavailable",
                                           "detail": "信令服务暂不可用，正在重试 / signalling is unavailable; retrying"},
                                          ensure_ascii=False))
        await socket.close(code=1013)
        return
    member = Member(pid=info["pid"], name=info["name"], role=info["role"], host=info["host"], staff=info["staff"],
                    socket=socket, muted=info["muted"], livekit=info["livekit"])
    member.writer = asyncio.create_task(member.write())
    previous = room.members.get(member.pid)
    if previous is not None:
        # The same link opened again (a reload, a second tab): the newest connection wins.
        previous.send({"type": "replaced"})
        previous.send(CLOSE)
        if previous.admitted:
            room.broadcast({"type": "peer-left", "id": previous.pid}, exclude=previous.pid)
    elsewhere = room.remote.pop(member.pid, None)
    if elsewhere is not None:
        # Open on another process: tell the peers here, so that this connection's peer-joined comes after.
        if elsewhere["state"] == "admitted":
            room.broadcast({"type": "peer-left", "id": member.pid}, exclude=member.pid)
        room.command(member.pid, "replaced", conn=member.conn)
    room.members[member.pid] = member
    member.send({"type": "hello", "you": member.public(), "ice_servers": ice_servers(identity=f"p{member.pid}"),
                 "muted_by_host": member.muted})
    if info["admitted"]:
        room.enter(member)
        await _ask_consent_if_recording(db, room, member)
    else:
        member.send({"type": "waiting"})
        room.share(member)
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
        if room.drop(member):
            await _leave_quietly(db, member.pid)
        member.send(CLOSE)
        hub.leave(room)


async def _ask_consent_if_recording(db: Database, room: Room, member: Member) -> None:
    rec = room.recording
    if rec and not member.host:
        if not await to_thread.run_sync(_consented, db, rec["id"], member.pid):
            member.send({"type": "consent-request", "recording_id": rec["id"]})


async def _dispatch(db: Database, room: Room, member: Member, frame: dict) -> None:
    kind = frame.get("type")
    if kind == "ping":
        member.send({"type": "pong"})
        return
    if kind == "signal":
        if not member.admitted:
            member.send({"type": "error", "code": "not_admitted", "detail": "wait until the host admits you"})
            return
        target = room.find(frame.get("to"))
        if target is None or target["state"] != "admitted":
            member.send({"type": "error", "code": "no_such_peer", "to": frame.get("to")})
            return
        room.send_to(target["id"], {"type": "signal", "from": member.pid, "data": frame.get("data")})
        return
    if kind == "self-mute":
        member.self_muted = bool(frame.get("muted"))
        room.share(member)
        room.push_roster()
        return
    if kind == "consent":
        rec = room.recording
        if not rec or rec.get("id") != frame.get("recording_id"):
            member.send({"type": "error", "code": "no_recording"})
            return
        present = room.admitted_ids()
        result = await to_thread.run_sync(lambda: _recording_op(
            db, member.pid, recordings.do_consent, recording_id=rec["id"], agree=bool(frame.get("agree")), present=present))
        _after_consent(room, member, result, agreed=bool(frame.get("agree")))
        return
    if not member.host:
        member.send({"type": "error", "code": "forbidden", "detail": "only the host may do this"})
        return
    await _dispatch_host(db, room, member, kind, frame)


def _after_consent(room: Room, member: Member, result: dict, *, agreed: bool) -> None:
    host = room.host_id()
    status = result["status"]
    if status == RecordingStatus.RECORDING:
        if not (room.recording or {}).get("on"):
            room.set_recording({"id": result["id"], "on": True})
            if host is not None:
                room.send_to(host, {"type": "record-start", "recording_id": result["id"]})
            room.broadcast({"type": "recording", "on": True})
        elif host is not None:
            room.send_to(host, {"type": "record-pending", "recording_id": result["id"], "waiting": result["waiting"]})
        return
    if not agreed:
        if host is not None:
            room.send_to(host, {"type": "record-declined", "recording_id": result["id"], "by": member.name,
                                "stop": status == RecordingStatus.PROCESSING})
        room.set_recording(None)
        room.broadcast({"type": "recording", "on": False})


async def _dispatch_host(db: Database, room: Room, member: Member, kind: str, frame: dict) -> None:
    if kind in ("admit", "admit-all"):
        targets = ([m.public() for m in room.members.values() if not m.admitted]
                   + [room.find(pid) for pid, r in room.remote.items() if r["state"] == "waiting"]
                   if kind == "admit-all" else [room.find(frame.get("id"))])
        for target in targets:
            if target is None:
                if kind == "admit":
                    # Admitting someone not connected yet lets them straight in when they come.
                    target_id = int(frame.get("id"))
                    await to_thread.run_sync(lambda t=target_id: _host_op(db, member.pid, service.do_admit, participant_id=t))
                    room.command(target_id, "enter")  # in case another process holds them and has not told us yet
                continue
            await to_thread.run_sync(lambda t=target: _host_op(db, member.pid, service.do_admit, participant_id=t["id"]))
            here = room.members.get(target["id"])
            if here is None:
                room.command(target["id"], "enter")  # the process holding its socket lets it in
            elif not here.admitted:
                room.enter(here)
                await _ask_consent_if_recording(db, room, here)
        return
    if kind == "remove":
        target_id = int(frame.get("id"))
        await to_thread.run_sync(lambda: _host_op(db, member.pid, service.do_remove, participant_id=target_id))
        target = room.members.get(target_id)
        if target is not None:
            room.evict(target, {"type": "removed"})
        else:  # the process holding its socket, if any, evicts it
            room.command(target_id, "evict", message={"type": "removed"})
        return
    if kind == "mute":
        target_id, muted = int(frame.get("id")), bool(frame.get("muted", True))
        await to_thread.run_sync(lambda: _host_op(db, member.pid, service.do_mute, participant_id=target_id, muted=muted))
        target = room.members.get(target_id)
        if target is not None:
            room.mute(target, muted)
        else:
            room.command(target_id, "mute", muted=muted)
            if target_id not in room.remote:
                room.push_roster()
        return
    if kind == "record":
        present = room.admitted_ids()
        result = await to_thread.run_sync(lambda: _recording_op(db, member.pid, recordings.do_request_recording,
                                                                present=present))
        room.set_recording({"id": result["id"], "on": result["status"] == RecordingStatus.RECORDING})
        if room.recording["on"]:
            member.send({"type": "record-start", "recording_id": result["id"]})
            room.broadcast({"type": "recording", "on": True})
        else:
            member.send({"type": "record-pending", "recording_id": result["id"], "waiting": result["waiting"]})
            for pid in result["waiting"]:
                room.send_to(pid, {"type": "consent-request", "recording_id": result["id"]})
        return
    if kind == "record-stopped":
        room.set_recording(None)
        room.broadcast({"type": "recording", "on": False})
        return
    if kind == "end":
        await to_thread.run_sync(_end, db, member.pid)
        room.close_everyone({"type": "ended"})
        return
    member.send({"type": "error", "code": "unknown", "detail": f"unknown frame type {kind!r}"})


rooms.hooks.admitted = _ask_consent_if_recording
rooms.hooks.vanished = _leave_quietly
