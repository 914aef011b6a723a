"""Push outbound web chat messages that no turn answered (agent messages, notices) to the open sockets.

One poller per process and event loop serves every socket: each interval it reads ``last_seq`` of all
subscribed conversations in one query and fetches the outbound messages of only those that moved, so
the database sees about one query per interval whatever the number of sockets (it used to be one per
socket). Messages written by any process (another worker, the console, a task) are found the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from anyio import to_thread
from sqlalchemy import and_, or_, select

from bot.models import Conversation, ConversationMessage
from core.db import Database

log = logging.getLogger(__name__)
CHANNEL = "webchat"
# Bound parameters per query: well under SQLite's and PostgreSQL's limits.
CHUNK = 500


@dataclass(eq=False)
class Subscriber:
    """One open socket: the conversation it shows and the last sequence number the page has."""

    send: Callable[[dict], Awaitable[None]]
    conversation_id: str | None = None
    seen: int = 0
    # A turn's own replies reach the page in its "replies" frame: while one runs, and for a poll that
    # overlapped one, this socket gets no push, so nothing is shown twice.
    busy: int = 0
    turns: int = 0

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Mark a turn (or a hello) in flight on this socket."""
        self.busy += 1
        self.turns += 1
        try:
            yield
        finally:
            self.busy -= 1


@dataclass
class Fresh:
    """What one poll found for a conversation: its last sequence number and the outbound messages up to it."""

    last_seq: int
    messages: list[ConversationMessage] = field(default_factory=list)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def fetch_fresh(db: Database, *, seen: dict[str, int]) -> dict[str, Fresh]:
    """Return, for each conversation whose last_seq passed the given one, the outbound messages in between."""
    found: dict[str, Fresh] = {}
    with db.session() as session:
        moved: list[tuple[int, str, int]] = []
        for part in _chunks(list(seen)):
            rows = session.execute(select(Conversation.id, Conversation.external_id, Conversation.last_seq).where(
                Conversation.channel == CHANNEL, Conversation.external_id.in_(part)))
            moved += [(cid, external, last) for cid, external, last in rows if last > seen[external]]
        for part in _chunks(moved, CHUNK // 3):
            # Bounded by the last_seq read above: whatever is at or below it was committed with it.
            windows = [and_(ConversationMessage.conversation_id == cid, ConversationMessage.seq > seen[external],
                            ConversationMessage.seq <= last) for cid, external, last in part]
            by_id = {cid: found.setdefault(external, Fresh(last)) for cid, external, last in part}
            for message in session.scalars(select(ConversationMessage).where(
                    ConversationMessage.direction == "out", or_(*windows)).order_by(ConversationMessage.seq)):
                by_id[message.conversation_id].messages.append(message)
    return found


class Pusher:
    """Poll for outbound messages of all subscribed conversations and send them to their sockets."""

    def __init__(self, db: Database, *, interval: float, render: Callable[[ConversationMessage], dict]):
        self.db, self.interval, self.render = db, interval, render
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a socket; the poller starts with the first one and stops after the last leaves."""
        self.subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="webchat-push")

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Remove a socket."""
        self.subscribers.discard(subscriber)

    async def _run(self) -> None:
        while self.subscribers:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:  # a database hiccup must not end pushes for every socket in the process
                log.exception("web chat push poll failed")

    async def poll(self) -> int:
        """Look once for new outbound messages and push them; return how many sockets got a push."""
        marks = {s: (s.turns, s.conversation_id, s.seen) for s in self.subscribers if s.conversation_id and not s.busy}
        seen: dict[str, int] = {}
        for _turns, conversation_id, last in marks.values():
            seen[conversation_id] = min(last, seen.get(conversation_id, last))
        if not seen:
            return 0
        fresh = await to_thread.run_sync(lambda: fetch_fresh(self.db, seen=seen))
        sends = []
        for subscriber, mark in marks.items():
            found = fresh.get(mark[1])
            # Skip a socket that left, switched conversation or ran a turn while the poll was out.
            if (found is None or subscriber not in self.subscribers or subscriber.busy
                    or (subscriber.turns, subscriber.conversation_id, subscriber.seen) != mark):
                continue
            messages = [self.render(m) for m in found.messages if m.seq > subscriber.seen]
            subscriber.seen = max(subscriber.seen, found.last_seq)
            if messages:
                sends.append(subscriber.send({"type": "push", "messages": messages}))
        results = await asyncio.gather(*sends, return_exceptions=True)
        return sum(1 for r in results if not isinstance(r, BaseException))


_pushers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pusher_for(db: Database, *, interval: float, render: Callable[[ConversationMessage], dict]) -> Pusher:
    """Return this event loop's pusher for the database, making it on first use."""
    per_loop = _pushers.setdefault(asyncio.get_running_loop(), {})
    key = id(db)
    if key not in per_loop or per_loop[key].db is not db:
        per_loop[key] = Pusher(db, interval=interval, render=render)
    return per_loop[key]
