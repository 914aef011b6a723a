"""Share signalling rooms between server processes through Redis: pub/sub for room events, a hash for presence.

Each event loop that serves mediation sockets (one per uvicorn worker or container) has one ``Relay``, a node with
its own id. For every session it has members in, the relay subscribes to ``{prefix}{session_id}`` and hands the
events of other nodes to the room (``Room.receive`` in ``mediation.signalling``). Presence lives in the hash
``{prefix}{session_id}:presence``: one field per connected participant, whose value names the node and connection
holding the socket. A node proves it is alive with ``{prefix}node:{id}``, a key it refreshes every third of the
presence TTL; when a process vanishes its key expires and the next heartbeat of any other node in the session
deletes its members and tells everyone. The recording state of a session is ``{prefix}{session_id}:recording``.

Every write and publication of a relay goes through one queue and one writer task, in order: a node's events
reach the others in the order it made them, and its presence is written before the event that announces it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "petition:mediation:"
DEFAULT_TTL_S = 15.0
SUBSCRIBE_TIMEOUT_S = 5.0

# Write a participant's presence unless another connection (a newer one, elsewhere) holds the field.
_PUT = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if (not v) or cjson.decode(v)['conn'] == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""
# Delete a participant's presence only if this connection still holds it.
_DROP = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v)['conn'] == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class RelayUnavailable(Exception):
    """Redis did not answer: the room cannot be shared with the other processes now."""


class SharedRoom(Protocol):
    """What a relay needs of a room (``mediation.signalling.Room``)."""

    def receive(self, envelope: dict) -> None: ...

    def local_records(self) -> list[dict]: ...

    def reconcile(self, records: dict[int, dict], recording: dict | None, started: float) -> None: ...

    def expired(self, record: dict) -> None: ...


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Relay:
    """One event loop's link to the shared rooms: subscriptions, an ordered writer and the presence heartbeat."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, ttl_s: float = DEFAULT_TTL_S):
        import redis.asyncio as aioredis

        self.url, self.prefix = url, prefix
        self.ttl_ms = max(int(ttl_s * 1000), 300)
        self.node = uuid.uuid4().hex[:16]
        self.loop = asyncio.get_running_loop()
        self.client = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)
        self.pubsub = self.client.pubsub()
        self.rooms: dict[int, SharedRoom] = {}
        self.closed = False
        self._queue: asyncio.Queue = asyncio.Queue()
        self._waiters: dict[str, asyncio.Future] = {}
        self._subscriptions = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._listener: asyncio.Task | None = None
        self._writer = self.spawn(self._write())
        self._heartbeat = self.spawn(self._beat())

    # ---- keys ----

    def channel(self, session_id: int) -> str:
        """Return the pub/sub channel of a session."""
        return f"{self.prefix}{session_id}"

    def presence_key(self, session_id: int) -> str:
        """Return the key of a session's presence hash."""
        return f"{self.prefix}{session_id}:presence"

    def recording_key(self, session_id: int) -> str:
        """Return the key of a session's recording state."""
        return f"{self.prefix}{session_id}:recording"

    def node_key(self, node: str) -> str:
        """Return the liveness key of a node."""
        return f"{self.prefix}node:{node}"

    # ---- rooms ----

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        """Run a coroutine on this relay's loop, keeping a reference until it is done."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def open(self, session_id: int, room: SharedRoom) -> None:
        """Subscribe to a session's events and load who is connected elsewhere (the caller registered the room)."""
        channel = self.channel(session_id)
        try:
            async with self._subscriptions:
                waiter = self._waiters[channel] = self.loop.create_future()
                await self.pubsub.subscribe(channel)
                if self._listener is None:
                    self._listener = self.spawn(self._listen())
                await asyncio.wait_for(waiter, SUBSCRIBE_TIMEOUT_S)
            # Our liveness key must exist before other nodes see our members, or their sweep would drop them.
            await self.client.set(self.node_key(self.node), "1", px=self.ttl_ms)
            started = time.monotonic()
            live, _dead, recording = await self._load(session_id)
        except Exception as exc:  # redis.RedisError, OSError, TimeoutError: Redis is down or too slow
            raise RelayUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            self._waiters.pop(channel, None)
        room.reconcile(live, recording, started)

    async def close_room(self, session_id: int) -> None:
        """Unsubscribe from a session no member here is in any more; close the relay when it has no rooms left."""
        async with self._subscriptions:
            if session_id in self.rooms or self.closed:
                return
            try:
                await self.pubsub.unsubscribe(self.channel(session_id))
            except Exception as exc:  # redis.RedisError, OSError: the subscription dies with the connection anyway
                log.warning("mediation relay: could not unsubscribe from session %s: %s", session_id, exc)
            if not self.rooms:
                await self.aclose()

    async def aclose(self) -> None:
        """Write what is queued, say this node is gone and close the connections."""
        self.closed = True
        self._queue.put_nowait(("stop",))
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), 5)
        except Exception:  # TimeoutError, or the writer failed: what is left is lost with this node
            self._writer.cancel()
        for task in (self._heartbeat, self._listener):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for closing in (self.pubsub.aclose, self.client.aclose):
            try:
                await closing()
            except Exception:  # already gone
                pass

    # ---- writes, in order ----

    def publish(self, session_id: int, envelope: dict, *, echo: bool = False) -> None:
        """Queue an event for the other nodes in a session (and for this one too when echo is set)."""
        self._queue.put_nowait(("publish", session_id, {**envelope, "origin": None if echo else self.node}))

    def put_member(self, session_id: int, record: dict, *, force: bool) -> None:
        """Queue writing a participant's presence; force takes the field over from an older connection."""
        self._queue.put_nowait(("put", session_id, record, force))

    def drop_member(self, session_id: int, pid: int, conn: str) -> None:
        """Queue deleting a participant's presence if this connection still holds it."""
        self._queue.put_nowait(("drop", session_id, pid, conn))

    def put_recording(self, session_id: int, value: dict | None) -> None:
        """Queue writing a session's recording state (None: no recording)."""
        self._queue.put_nowait(("recording", session_id, value))

    def _stage(self, pipe, op: tuple) -> None:
        kind = op[0]
        if kind == "publish":
            pipe.publish(self.channel(op[1]), _dumps(op[2]))
        elif kind == "put":
            _, session_id, record, force = op
            key, value = self.presence_key(session_id), _dumps(record)
            if force:
                pipe.hset(key, str(record["id"]), value)
            else:
                pipe.eval(_PUT, 1, key, str(record["id"]), value, record["conn"])
            pipe.pexpire(key, self.ttl_ms)
        elif kind == "drop":
            pipe.eval(_DROP, 1, self.presence_key(op[1]), str(op[2]), op[3])
        elif kind == "recording":
            if op[2] is None:
                pipe.delete(self.recording_key(op[1]))
            else:
                pipe.set(self.recording_key(op[1]), _dumps(op[2]), px=self.ttl_ms)
        elif kind == "alive":
            pipe.set(self.node_key(self.node), "1", px=self.ttl_ms)
            for session_id in op[1]:
                pipe.pexpire(self.presence_key(session_id), self.ttl_ms)
                pipe.pexpire(self.recording_key(session_id), self.ttl_ms)
        elif kind == "stop":
            pipe.delete(self.node_key(self.node))

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for op in batch:
                        self._stage(pipe, op)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis.RedisError, OSError: the heartbeat writes presence again
                log.warning("mediation relay: could not write %d operation(s) to Redis: %s", len(batch), exc)
            if any(op[0] == "stop" for op in batch):
                return

    # ---- events from the other nodes ----

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: redis-py reconnects and subscribes again
                log.warning("mediation relay: lost the Redis subscription: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel = message.get("channel")
            if message["type"] == "subscribe":
                waiter = self._waiters.pop(channel, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            if message["type"] != "message":
                continue
            try:
                session_id = int(channel[len(self.prefix):])
                envelope = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if not isinstance(envelope, dict) or envelope.get("origin") == self.node:
                continue
            room = self.rooms.get(session_id)
            if room is not None:
                try:
                    room.receive(envelope)
                except Exception:
                    log.exception("mediation relay: could not handle %s for session %s", envelope.get("op"), session_id)

    # ---- presence ----

    async def _load(self, session_id: int) -> tuple[dict[int, dict], list[dict], dict | None]:
        """Return the members other nodes hold (alive, and on vanished nodes) and the recording state."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.presence_key(session_id))
            pipe.get(self.recording_key(session_id))
            presence, recording = await pipe.execute()
        records: dict[int, dict] = {}
        for field, raw in presence.items():
            try:
                pid, record = int(field), json.loads(raw)
            except (TypeError, ValueError):
                continue
            if isinstance(record, dict) and record.get("node") and record["node"] != self.node:
                records[pid] = record
        nodes = sorted({record["node"] for record in records.values()})
        alive: dict[str, bool] = {}
        if nodes:
            async with self.client.pipeline(transaction=False) as pipe:
                for node in nodes:
                    pipe.exists(self.node_key(node))
                alive = {node: bool(n) for node, n in zip(nodes, await pipe.execute(), strict=True)}
        live = {pid: r for pid, r in records.items() if alive.get(r["node"])}
        dead = [r for pid, r in records.items() if not alive.get(r["node"])]
        try:
            state = json.loads(recording) if recording else None
        except ValueError:
            state = None
        return live, dead, state if isinstance(state, dict) else None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis.RedisError, OSError: try again at the next beat
                log.warning("mediation relay: heartbeat failed: %s", exc)

    async def beat(self) -> None:
        """Refresh this node's liveness and presence, drop the members of vanished nodes and resync every room."""
        rooms = list(self.rooms.items())
        self._queue.put_nowait(("alive", [session_id for session_id, _ in rooms]))
        for session_id, room in rooms:
            for record in room.local_records():
                self.put_member(session_id, record, force=False)
        for session_id, room in rooms:
            started = time.monotonic()
            live, dead, recording = await self._load(session_id)
            for record in dead:
                # Whoever deletes the field tells the room; the other nodes hear it from that one.
                if await self.client.eval(_DROP, 1, self.presence_key(session_id), str(record["id"]), record["conn"]):
                    log.info("mediation relay: node %s vanished; participant %s left session %s",
                             record["node"], record["id"], session_id)
                    if self.rooms.get(session_id) is room:
                        room.expired(record)
            if self.rooms.get(session_id) is room:
                room.reconcile(live, recording, started)


# ---- from request threads, where no relay's loop runs ----------------------------------------------------------

_sync_clients: dict[str, Any] = {}


def publish_from_thread(url: str, prefix: str, session_id: int, envelope: dict) -> None:
    """Publish an event to every node of a session from a worker thread (blocking that thread only)."""
    import redis

    client = _sync_clients.get(url)
    if client is None:
        client = _sync_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.publish(f"{prefix}{session_id}", _dumps({**envelope, "origin": None}))
    except (redis.RedisError, OSError) as exc:
        log.warning("mediation relay: could not publish %s to session %s: %s", envelope.get("op"), session_id, exc)


async def publish_once(url: str, prefix: str, session_id: int, envelope: dict) -> None:
    """Publish an event to every node of a session from a loop that has no relay."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.publish(f"{prefix}{session_id}", _dumps({**envelope, "origin": None}))
    except Exception as exc:  # redis.RedisError, OSError
        log.warning("mediation relay: could not publish %s to session %s: %s", envelope.get("op"), session_id, exc)
    finally:
        await client.aclose()
