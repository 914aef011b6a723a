"""One inbound message, end to end: store it once, run the bot under the conversation's lock, store the replies.

A repeated delivery (same channel and platform message id) returns the replies stored the first time
and changes nothing; two messages on one conversation are processed one after the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import engine
from bot import service as conversations
from channels.models import InboxMessage, OutboxMessage
from core.db import Database, insert_for, utcnow
from core.tasks import enqueue

log = logging.getLogger(__name__)

MAX_TEXT = 10_000


class ForeignMessage(ValueError):
    """A message id that another sender already used: never answer with someone else's replies."""


@dataclass(frozen=True)
class InboundMessage:
    """A citizen's message as any channel delivers it."""

    channel: str
    sender: str
    message_id: str
    text: str = ""
    locale: str | None = None
    media: dict | None = None
    received_at: datetime | None = None


@dataclass
class OutboundMessage:
    """A message for a citizen on a channel."""

    channel: str
    recipient: str
    text: str
    quick_replies: list[str] = field(default_factory=list)
    seq: int | None = None
    outbox_id: int | None = None


@dataclass
class Result:
    """What the channel answers: the replies, and whether this delivery was a repeat."""

    conversation_id: int
    replies: list[OutboundMessage]
    duplicate: bool = False


def store(db: Database, msg: InboundMessage) -> None:
    """Store the inbound message and its conversation, once; committed before any processing."""
    if not msg.message_id or len(msg.message_id) > 128:
        raise ValueError("message_id must be 1 to 128 characters")
    with db.transaction() as session:
        conversations.ensure(session, channel=msg.channel, external_id=msg.sender, locale=msg.locale)
        session.execute(insert_for(session)(InboxMessage).values(
            channel=msg.channel, platform_msg_id=msg.message_id, sender=msg.sender, text=msg.text[:MAX_TEXT] if
            msg.text else "", media=msg.media or {}, locale=msg.locale, status="received", attempts=0,
            received_at=msg.received_at or utcnow()).on_conflict_do_nothing(index_elements=["channel", "platform_msg_id"]))


def process(db: Database, msg: InboundMessage, *, in_band: bool = False) -> Result:
    """Run the bot on a stored message (or return its stored replies) in one transaction.

    ``in_band`` channels (web chat, passive replies) hand the replies back in the same exchange, so
    their outbox rows are born delivered; the others wait for the sender.
    """
    with db.transaction() as session:
        conv = conversations.get_by_identity(session, channel=msg.channel, external_id=msg.sender, for_update=True)
        inbox = session.scalar(select(InboxMessage).where(InboxMessage.channel == msg.channel,
                                                          InboxMessage.platform_msg_id == msg.message_id))
        if inbox.sender != msg.sender:
            raise ForeignMessage(f"{msg.channel} message {msg.message_id} belongs to another sender")
        if inbox.status == "processed":
            return Result(conv.id, stored_replies(session, inbox), duplicate=True)
        now = utcnow()
        inbox.conversation_id = conv.id
        inbox.attempts += 1
        if msg.locale:
            # The client's language toggle is the citizen's explicit choice: follow it when it changes.
            previous = session.scalar(select(InboxMessage.locale).where(
                InboxMessage.conversation_id == conv.id, InboxMessage.id != inbox.id, InboxMessage.status == "processed")
                .order_by(InboxMessage.id.desc()).limit(1))
            if conv.last_seq == 0 or (previous and previous != msg.locale):
                conv.locale = conversations.normalise_locale(msg.locale)
        conversations.record(session, conv, direction="in", author="citizen", text=inbox.text or "", at=now)
        replies = engine.handle(session, conv, inbox.text or "", now=now, media=inbox.media or None)
        out = []
        for reply in replies:
            line = conversations.record(session, conv, direction="out", author="bot", text=reply.text,
                                        quick_replies=reply.quick_replies, at=now)
            row = OutboxMessage(channel=msg.channel, recipient=msg.sender, conversation_id=conv.id, inbox_id=inbox.id,
                                seq=line.seq, text=reply.text, quick_replies=reply.quick_replies,
                                status="delivered" if in_band else "pending", attempts=1 if in_band else 0,
                                sent_at=now if in_band else None, created_at=now)
            session.add(row)
            session.flush()
            if not in_band:
                enqueue(session, "channels.send_outbox", outbox_id=row.id)
            out.append(OutboundMessage(msg.channel, msg.sender, reply.text, reply.quick_replies, line.seq, row.id))
        inbox.status, inbox.processed_at, inbox.error = "processed", now, None
        return Result(conv.id, out)


def stored_replies(session: Session, inbox: InboxMessage) -> list[OutboundMessage]:
    """Return the replies produced the first time a message was processed."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.inbox_id == inbox.id).order_by(OutboxMessage.id))
    return [OutboundMessage(r.channel, r.recipient, r.text, list(r.quick_replies or []), r.seq, r.id) for r in rows]


def receive(db: Database, msg: InboundMessage, *, in_band: bool = False) -> Result:
    """Store, then process, an inbound message; a failure keeps the message for a retry."""
    store(db, msg)
    try:
        return process(db, msg, in_band=in_band)
    except Exception as exc:
        log.exception("processing %s message %s failed", msg.channel, msg.message_id)
        with db.transaction() as session:
            inbox = session.scalar(select(InboxMessage).where(InboxMessage.channel == msg.channel,
                                                              InboxMessage.platform_msg_id == msg.message_id))
            if inbox is not None and inbox.status != "processed":
                inbox.status, inbox.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        raise


def enqueue_agent_message(session: Session, *, conv, seq: int, text: str, quick_replies: list[str] | None = None
                          ) -> OutboxMessage:
    """Put a message written outside a citizen's turn (agent, notification) in the outbox; it is sent after commit."""
    row = OutboxMessage(channel=conv.channel, recipient=conv.external_id, conversation_id=conv.id, seq=seq, text=text,
                        quick_replies=quick_replies or [], status="pending", created_at=utcnow())
    session.add(row)
    session.flush()
    enqueue(session, "channels.send_outbox", outbox_id=row.id)
    return row
