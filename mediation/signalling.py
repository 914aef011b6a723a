"""WebRTC signalling over a WebSocket: the waiting room, host controls and offer/answer/candidate relay for a mesh.

Each browser opens ``/mediation/ws/{session_id}?token=...``. The server checks the invitation, puts the
participant in the waiting room (or straight in, for the host and staff) and relays SDP and ICE messages
only between admitted participants of the same session. Media never passes through us: every pair of
browsers connects directly (or through the configured TURN server).

Without Redis (the embedded default) a session's room lives in this process's memory. With several API
processes (``uvicorn --workers N``, several containers behind a load balancer) set ``PETITION_MEDIATION_REDIS_URL``
(a ``redis://`` broker URL is used when it is unset): each process keeps its own sockets and shares the rooms
through Redis (``mediation.relay``). It publishes every room event (joins and leaves, admissions, host controls,
signals addressed to a participant, roster changes) on the session's channel and delivers the events of the
others to its own members; an action on a participant connected elsewhere (admit, mute, remove) is carried out
by the process that holds the socket. Who is connected where is a Redis hash kept alive by heartbeats, so the
members of a process that vanishes leave the room within the presence TTL. The state that matters (admitted,
removed, muted, consents) is also in the database, so a restarted server or a reconnecting browser finds it again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread
from fastapi import WebSocket, WebSocketDisconnect

from cases.service import CaseError
from core.db import Database
from core.settings import Settings, get_settings
from mediation import livekit, recordings, relay, service
from mediation.enums import ROLE_LABELS, RecordingStatus, SessionStatus
from mediation.models import MediationParticipant

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024
_CLOSE = object()
# Shared rooms (Redis): the key and channel prefix, and how long a process's members outlive its last heartbeat.
REDIS_PREFIX = relay.DEFAULT_PREFIX
PRESENCE_TTL_S = relay.DEFAULT_TTL_S
_PUBLIC = ("id", "name", "role", "host", "muted", "self_muted", "state")

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


def relay_url(settings: Settings | None = None) -> str | None:
    """Return the Redis URL that rooms are shared through, or None to keep them in this process."""
    settings = settings or get_settings()
    if settings.mediation_redis_url is not None:
        return settings.mediation_redis_url or None  # "" keeps rooms in-process even with a Redis broker
    if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return settings.broker_url
    return None


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
    # This connection, among all of the participant's (shared rooms: a newer one elsewhere replaces it).
    conn: str = field(default_factory=lambda: uuid.uuid4().hex)
    shared: bool = False
    # The peers this member's page has a connection for (told in "admitted" or "peer-joined", until "peer-left").
    known: set[int] = field(default_factory=set)

    def public(self) -> dict:
        return {"id": self.pid, "name": self.name, "role": self.role, "host": self.host, "muted": self.muted,
                "self_muted": self.self_muted, "state": "admitted" if self.admitted else "waiting"}

    def send(self, message: Any) -> None:
        if isinstance(message, dict) and message.get("type") == "peer-left":
            self.known.discard(message.get("id"))
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
    """The participants of one session: those connected to this process, and (shared rooms) those elsewhere.

    Without a relay the room is the whole session. With one, ``remote`` mirrors the members other processes
    hold (from their events, checked against Redis at every heartbeat), every change here is published, and an
    action on a remote member is sent to the process holding its socket.
    """

    def __init__(self, session_id: int, loop: asyncio.AbstractEventLoop, *, link: relay.Relay | None = None,
                 db: Database | None = None):
        self.session_id, self.loop, self.link, self.db = session_id, loop, link, db
        self.members: dict[int, Member] = {}
        self.remote: dict[int, dict] = {}
        self.recording: dict | None = None
        self.ready = asyncio.Event() if link is not None else None
        self.error: Exception | None = None
        # When each remote entry (or the recording) last changed through an event: newer than a Redis snapshot wins.
        self._touched: dict[int | str, float] = {}

    # ---- who is here ----

    def admitted(self, *, exclude: int | None = None) -> list[Member]:
        return [m for m in self.members.values() if m.admitted and m.pid != exclude]

    def everyone(self) -> list[dict]:
        """Return every participant's public record, this process's and the others', by participant id."""
        records = {pid: {k: r[k] for k in _PUBLIC} for pid, r in self.remote.items()}
        records.update({pid: m.public() for pid, m in self.members.items()})
        return [records[pid] for pid in sorted(records)]

    def find(self, pid: Any) -> dict | None:
        """Return one participant's public record wherever it is connected, or None."""
        try:
            pid = int(pid)
        except (TypeError, ValueError):
            return None
        if pid in self.members:
            return self.members[pid].public()
        record = self.remote.get(pid)
        return {k: record[k] for k in _PUBLIC} if record else None

    def peers(self, *, exclude: int | None = None) -> list[dict]:
        """Return the admitted participants' public records (this process's first, in the order they came)."""
        here = [m.public() for m in self.admitted(exclude=exclude)]
        there = [{k: r[k] for k in _PUBLIC} for pid, r in self.remote.items()
                 if r["state"] == "admitted" and pid != exclude and pid not in self.members]
        return here + there

    def admitted_ids(self) -> list[int]:
        """Return the ids of everyone admitted, wherever connected."""
        return [p["id"] for p in self.peers()]

    def host_id(self) -> int | None:
        """Return the host's participant id if the host is connected anywhere."""
        return next((p["id"] for p in self.everyone() if p["host"]), None)

    # ---- telling people ----

    def _publish(self, envelope: dict) -> None:
        if self.link is not None:
            self.link.publish(self.session_id, envelope)

    def send_to(self, pid: int, message: dict) -> None:
        """Send a message to one participant, wherever it is connected."""
        member = self.members.get(pid)
        if member is not None:
            member.send(message)
        elif pid in self.remote:
            self._publish({"op": "send", "to": pid, "message": message})

    def broadcast(self, message: dict, *, exclude: int | None = None) -> None:
        """Send a message to everyone admitted, on every process."""
        for member in self.admitted(exclude=exclude):
            member.send(message)
        self._publish({"op": "broadcast", "message": message, "exclude": exclude})

    def _roster_here(self) -> None:
        everyone = self.everyone()
        inside = [m for m in everyone if m["state"] == "admitted"]
        for member in self.admitted():
            member.send({"type": "roster", "members": everyone if member.host else inside})

    def push_roster(self) -> None:
        """Send the current roster to everyone admitted (the host sees the waiting room too)."""
        self._roster_here()
        self._publish({"op": "roster"})

    def close_everyone(self, message: dict) -> None:
        """Tell everyone in the session (waiting or not) and close their sockets."""
        for member in list(self.members.values()):
            member.send(message)
            member.send(_CLOSE)
        self._publish({"op": "close", "message": message})

    def command(self, pid: int, op: str, **args: Any) -> None:
        """Ask the process holding a remote participant's socket to act on it (admit, mute, remove, replace)."""
        self._publish({"op": "cmd", "to": pid, "cmd": op, **args})

    def share(self, member: Member) -> None:
        """Publish a local member's state (its first publication takes the presence over from older connections)."""
        if self.link is None:
            return
        record = {**member.public(), "node": self.link.node, "conn": member.conn}
        self.link.put_member(self.session_id, record, force=not member.shared)
        member.shared = True
        self._publish({"op": "upsert", "member": record})

    def unshare(self, member: Member) -> None:
        """Withdraw a local member's presence and tell the other processes it left."""
        if self.link is not None and member.shared:
            self.link.drop_member(self.session_id, member.pid, member.conn)
            self._publish({"op": "drop", "id": member.pid, "conn": member.conn})

    def set_recording(self, value: dict | None) -> None:
        """Set the session's recording state here and on every process."""
        self.recording = value
        if self.link is not None:
            self.link.put_recording(self.session_id, value)
            self._publish({"op": "recording", "value": value})

    # ---- what happens to a member connected here ----

    def enter(self, member: Member) -> None:
        """Let an admitted member in: the others expect its offers, it learns whom to call."""
        member.admitted = True
        self.share(member)
        peers = self.peers(exclude=member.pid)
        member.known = {p["id"] for p in peers}
        # `calls`: whom the member will call; one who is not among them learns of it through peer-joined.
        joined, calls = member.public(), sorted(member.known)
        for other in self.admitted(exclude=member.pid):
            self._tell_joined(other, joined, calls)
        self._publish({"op": "joined", "peer": joined, "calls": calls})
        member.send({"type": "admitted", "peers": peers, "recording": self._recording_on(), "livekit": member.livekit})
        self.push_roster()

    def _recording_on(self) -> bool:
        return bool(self.recording and self.recording.get("on"))

    def _tell_joined(self, member: Member, peer: dict, calls: list[int]) -> None:
        """Tell an admitted member that a peer came in, so that exactly one of the two calls the other."""
        if peer["id"] in member.known:
            return  # it called the peer already (it entered later, and knew)
        member.known.add(peer["id"])
        if member.pid in calls or member.livekit is not None or member.pid < peer["id"]:
            member.send({"type": "peer-joined", "peer": peer})
        else:
            # Both came in at once on different processes and neither was told of the other: the larger id calls.
            member.send({"type": "admitted", "peers": [peer], "recording": self._recording_on(), "livekit": None})

    def evict(self, member: Member, message: dict) -> None:
        """Tell a member why, close its socket and let the others know at once (not when its socket winds down)."""
        if self.members.get(member.pid) is member:
            del self.members[member.pid]
            self.unshare(member)
            if member.admitted:
                self.broadcast({"type": "peer-left", "id": member.pid})
            self.push_roster()
        member.send(message)
        member.send(_CLOSE)

    def mute(self, member: Member, muted: bool) -> None:
        """Apply the host's mute to a member connected here."""
        member.muted = muted
        member.send({"type": "mute", "muted": muted, "by": "host"})
        self.share(member)
        self.push_roster()

    # ---- shared rooms: events from the other processes (mediation.relay calls these) ----

    def receive(self, envelope: dict) -> None:
        """Apply another process's event to this room."""
        op = envelope.get("op")
        if op == "upsert":
            record = envelope["member"]
            self.remote[int(record["id"])] = record
            self._touched[int(record["id"])] = time.monotonic()
        elif op == "drop":
            pid = int(envelope["id"])
            if self.remote.get(pid, {}).get("conn") == envelope.get("conn"):
                del self.remote[pid]
            self._touched[pid] = time.monotonic()
        elif op == "send":
            member = self.members.get(envelope.get("to"))
            if member is not None:
                member.send(envelope["message"])
        elif op == "broadcast":
            for member in self.admitted(exclude=envelope.get("exclude")):
                member.send(envelope["message"])
        elif op == "joined":
            for member in self.admitted(exclude=envelope["peer"]["id"]):
                self._tell_joined(member, envelope["peer"], envelope.get("calls") or [])
        elif op == "roster":
            self._roster_here()
        elif op == "close":
            for member in list(self.members.values()):
                member.send(envelope["message"])
                member.send(_CLOSE)
        elif op == "recording":
            self.recording = envelope.get("value")
            self._touched["recording"] = time.monotonic()
        elif op == "cmd":
            self._command(envelope)

    def _command(self, envelope: dict) -> None:
        member = self.members.get(envelope.get("to"))
        if member is None:
            return
        cmd = envelope.get("cmd")
        if cmd == "enter":
            if not member.admitted:
                self.enter(member)
                self.link.spawn(_ask_consent_if_recording(self.db, self, member))
        elif cmd == "mute":
            self.mute(member, bool(envelope.get("muted")))
        elif cmd == "evict":
            self.evict(member, envelope.get("message") or {"type": "removed"})
        elif cmd == "replaced" and envelope.get("conn") != member.conn:
            # The same link opened on another process; that process told the others already.
            del self.members[member.pid]
            member.send({"type": "replaced"})
            member.send(_CLOSE)

    def local_records(self) -> list[dict]:
        """Return the presence records of the members connected here (for the heartbeat)."""
        return [{**m.public(), "node": self.link.node, "conn": m.conn} for m in self.members.values() if m.shared]

    def reconcile(self, records: dict[int, dict], recording: dict | None, started: float) -> None:
        """Adopt a snapshot of the others' members taken at `started`, except what events changed since."""
        changed, left = False, []
        for pid, record in records.items():
            if self._touched.get(pid, -1.0) < started and self.remote.get(pid) != record:
                self.remote[pid], changed = record, True
        for pid in list(self.remote):
            if pid not in records and self._touched.get(pid, -1.0) < started:
                if self.remote.pop(pid)["state"] == "admitted":
                    left.append(pid)
                changed = True
        if self._touched.get("recording", -1.0) < started:
            self.recording = recording
        self._touched = {k: t for k, t in self._touched.items() if t >= started}
        for pid in left:  # missed its leaving: let the peers here drop the connection now
            for member in self.admitted():
                member.send({"type": "peer-left", "id": pid})
        if changed:
            self._roster_here()

    def expired(self, record: dict) -> None:
        """Drop a member whose process vanished (this process won its presence field) and tell everyone."""
        pid = int(record["id"])
        if self.remote.get(pid, {}).get("conn") == record.get("conn"):
            del self.remote[pid]
        self._touched[pid] = time.monotonic()
        self._publish({"op": "drop", "id": pid, "conn": record.get("conn")})
        if record.get("state") == "admitted":
            self.broadcast({"type": "peer-left", "id": pid})
        self.push_roster()
        if self.db is not None:
            self.link.spawn(_leave_quietly(self.db, pid))


class Hub:
    """All rooms of this process, reachable from request threads too."""

    def __init__(self):
        self.rooms: dict[int, Room] = {}
        # Shared rooms: one relay per event loop that serves sockets (one per process in production).
        self.relays: dict[asyncio.AbstractEventLoop, relay.Relay] = {}

    def room(self, session_id: int) -> Room:
        room = self.rooms.get(session_id)
        if room is None:
            room = self.rooms[session_id] = Room(session_id, asyncio.get_running_loop())
        return room

    async def join(self, session_id: int, *, db: Database, settings: Settings | None = None) -> Room:
        """Return the session's room for a socket on this loop, shared through Redis when configured."""
        url = relay_url(settings)
        if url is None:
            room = self.room(session_id)
            room.db = db
            return room
        loop = asyncio.get_running_loop()
        link = self.relays.get(loop)
        if link is None or link.closed or link.url != url:
            for old in [lp for lp in self.relays if lp.is_closed()]:
                del self.relays[old]
            try:
                link = self.relays[loop] = relay.Relay(url, prefix=REDIS_PREFIX, ttl_s=PRESENCE_TTL_S)
            except ValueError as exc:  # a malformed URL: say so on every join rather than fail the socket silently
                raise relay.RelayUnavailable(f"bad mediation Redis URL: {exc}") from exc
        room = link.rooms.get(session_id)
        if room is None:
            room = link.rooms[session_id] = Room(session_id, loop, link=link, db=db)
            try:
                await link.open(session_id, room)
            except BaseException as exc:  # RelayUnavailable, or this task was cancelled: nobody may use the room
                room.error = exc if isinstance(exc, relay.RelayUnavailable) else relay.RelayUnavailable("interrupted")
                if link.rooms.get(session_id) is room:
                    del link.rooms[session_id]
                    link.spawn(link.close_room(session_id))
                raise
            finally:
                room.ready.set()
        else:
            await room.ready.wait()
            if room.error is not None:
                raise room.error
        return room

    def leave(self, room: Room) -> None:
        """Forget a room nobody on this process is in any more."""
        if room.members:
            return
        if room.link is None:
            if self.rooms.get(room.session_id) is room:
                del self.rooms[room.session_id]
        elif room.link.rooms.get(room.session_id) is room:
            del room.link.rooms[room.session_id]
            room.link.spawn(room.link.close_room(room.session_id))

    def _share(self, session_id: int, envelope: dict, url: str) -> None:
        """Publish an event to every process of a session (this one included), from any thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        link = self.relays.get(running) if running is not None else None
        if link is not None and not link.closed:
            link.publish(session_id, envelope, echo=True)
        elif running is not None:
            task = running.create_task(relay.publish_once(url, REDIS_PREFIX, session_id, envelope))
            _background.add(task)
            task.add_done_callback(_background.discard)
        else:
            relay.publish_from_thread(url, REDIS_PREFIX, session_id, envelope)

    def post(self, session_id: int, message: dict) -> None:
        """Send a message to everyone admitted to a session, from any thread."""
        url = relay_url()
        if url is not None:
            self._share(session_id, {"op": "broadcast", "message": message, "exclude": None}, url)
            return
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
        url = relay_url()
        if url is not None:
            self._share(session_id, {"op": "close", "message": message}, url)
            return
        room = self.rooms.get(session_id)
        if room is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is room.loop:
            room.close_everyone(message)
        elif not room.loop.is_closed():
            room.loop.call_soon_threadsafe(room.close_everyone, message)


hub = Hub()
_background: set[asyncio.Task] = set()


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
        previous.send(_CLOSE)
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
        if room.members.get(member.pid) is member:
            del room.members[member.pid]
            room.unshare(member)
            if member.admitted:
                room.broadcast({"type": "peer-left", "id": member.pid})
            room.push_roster()
            await _leave_quietly(db, member.pid)
        member.send(_CLOSE)
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
