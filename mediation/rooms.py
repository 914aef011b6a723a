"""Signalling rooms: who is in a mediation session, waiting or admitted, on this process or (through Redis) on others.

A ``Room`` holds the session's members on this process and, when rooms are shared, the roster the other
processes publish; the ``Hub`` finds or opens the room of a session for a socket and lets request threads
post to it. ``mediation.signalling`` speaks the WebSocket protocol on top of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket

from core.db import Database
from core.settings import Settings, get_settings
from mediation import relay

log = logging.getLogger(__name__)

# Sent to a member's queue to close its socket.
CLOSE = object()


@dataclass
class Hooks:
    """Database work a room starts on events from other processes; ``mediation.signalling`` sets both."""

    # A participant let in by a host on another process: ask for recording consent if a recording runs.
    admitted: Callable[[Database, Room, Member], Awaitable[None]] | None = None
    # A participant whose process vanished: record that it left.
    vanished: Callable[[Database, int], Awaitable[None]] | None = None


hooks = Hooks()
_PUBLIC = ("id", "name", "role", "host", "muted", "self_muted", "state")


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
                if message is CLOSE:
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
            member.send(CLOSE)
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

    def drop(self, member: Member) -> bool:
        """Take a member out of the room and tell the others; False when it had already gone (or was replaced)."""
        if self.members.get(member.pid) is not member:
            return False
        del self.members[member.pid]
        self.unshare(member)
        if member.admitted:
            self.broadcast({"type": "peer-left", "id": member.pid})
        self.push_roster()
        return True

    def evict(self, member: Member, message: dict) -> None:
        """Tell a member why, close its socket and let the others know at once (not when its socket winds down)."""
        self.drop(member)
        member.send(message)
        member.send(CLOSE)

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
                member.send(CLOSE)
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
                if hooks.admitted is not None:
                    self.link.spawn(hooks.admitted(self.db, self, member))
        elif cmd == "mute":
            self.mute(member, bool(envelope.get("muted")))
        elif cmd == "evict":
            self.evict(member, envelope.get("message") or {"type": "removed"})
        elif cmd == "replaced" and envelope.get("conn") != member.conn:
            # The same link opened on another process; that process told the others already.
            del self.members[member.pid]
            member.send({"type": "replaced"})
            member.send(CLOSE)

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
        if self.db is not None and hooks.vanished is not None:
            self.link.spawn(hooks.vanished(self.db, pid))


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
        settings = settings or get_settings()
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
                link = self.relays[loop] = relay.Relay(url, prefix=settings.mediation_redis_prefix,
                                                       ttl_s=settings.mediation_presence_ttl_s)
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
            task = running.create_task(relay.publish_once(url, get_settings().mediation_redis_prefix, session_id, envelope))
            _background.add(task)
            task.add_done_callback(_background.discard)
        else:
            relay.publish_from_thread(url, get_settings().mediation_redis_prefix, session_id, envelope)

    def _deliver(self, session_id: int, envelope: dict, act: Callable[[Room], None]) -> None:
        """Share an event through Redis, or run ``act`` on this process's room on its own loop, from any thread."""
        url = relay_url()
        if url is not None:
            self._share(session_id, envelope, url)
            return
        room = self.rooms.get(session_id)
        if room is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is room.loop:
            act(room)
        elif not room.loop.is_closed():
            room.loop.call_soon_threadsafe(act, room)

    def post(self, session_id: int, message: dict) -> None:
        """Send a message to everyone admitted to a session, from any thread."""
        self._deliver(session_id, {"op": "broadcast", "message": message, "exclude": None},
                      lambda room: room.broadcast(message))

    def close_all(self, session_id: int, message: dict) -> None:
        """Tell everyone in a session (waiting or not) and close their sockets, from any thread."""
        self._deliver(session_id, {"op": "close", "message": message}, lambda room: room.close_everyone(message))


hub = Hub()
_background: set[asyncio.Task] = set()
