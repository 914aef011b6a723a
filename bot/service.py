"""Conversations: lookup, transcript, and the human-agent operations (take over, send, hand back, close)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from bot import messages
from bot.models import Conversation, ConversationMessage
from core.accounts import Actor
from core.db import insert_for, utcnow

MODES = ("bot", "waiting", "agent", "closed")


class ConversationError(Exception):
    """A conversation request that cannot be met; ``status`` is the HTTP status an API maps it to."""

    status = 409


class ConversationNotFound(ConversationError):
    status = 404


def normalise_locale(locale: str | None) -> str:
    """Map a client locale (zh-CN, en-US, en) to the bot's language code."""
    return "en" if (locale or "").lower().startswith("en") else "zh"


def ensure(session: Session, *, channel: str, external_id: str, locale: str | None = None) -> None:
    """Create the conversation for this channel identity unless it exists (safe under concurrency)."""
    insert = insert_for(session)
    now = utcnow()
    session.execute(insert(Conversation).values(
        channel=channel, external_id=external_id, locale=normalise_locale(locale), mode="bot", state={}, misses=0,
        urgent=False, last_seq=0, created_at=now, updated_at=now).on_conflict_do_nothing(
        index_elements=["channel", "external_id"]))


def get_by_identity(session: Session, *, channel: str, external_id: str, for_update: bool = False) -> Conversation | None:
    """Return the conversation of a channel identity, optionally locked for this transaction."""
    stmt = select(Conversation).where(Conversation.channel == channel, Conversation.external_id == external_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def get(session: Session, conversation_id: int, *, for_update: bool = False) -> Conversation:
    """Return a conversation by id or raise ConversationNotFound."""
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if for_update:
        stmt = stmt.with_for_update()
    conv = session.scalar(stmt)
    if conv is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    return conv


def record(session: Session, conv: Conversation, *, direction: str, author: str, text: str,
           quick_replies: list[str] | None = None, at: datetime | None = None) -> ConversationMessage:
    """Append a message to the transcript; the caller holds the conversation's row lock."""
    conv.last_seq += 1
    message = ConversationMessage(conversation_id=conv.id, seq=conv.last_seq, direction=direction, author=author,
                                  text=text, quick_replies=quick_replies or [], created_at=at or utcnow())
    session.add(message)
    session.flush()
    return message


def history(session: Session, conv: Conversation, *, after: int = 0, limit: int = 500) -> list[ConversationMessage]:
    """Return the transcript after a sequence number, oldest first."""
    return list(session.scalars(select(ConversationMessage).where(
        ConversationMessage.conversation_id == conv.id, ConversationMessage.seq > after)
        .order_by(ConversationMessage.seq).limit(limit)))


def list_by_mode(session: Session, *, modes: list[str], limit: int = 100) -> list[Conversation]:
    """List conversations in these modes, urgent first, then the longest waiting."""
    return list(session.scalars(select(Conversation).where(Conversation.mode.in_(modes)).order_by(
        case((Conversation.urgent.is_(True), 0), else_=1), Conversation.waiting_since.asc().nulls_last(),
        Conversation.updated_at.desc()).limit(limit)))


def do_handoff(conv: Conversation, *, reason: str, urgent: bool = False, now: datetime | None = None) -> None:
    """Put the conversation in the queue for a human agent; the bot stays silent from now on."""
    if conv.mode in ("waiting", "agent"):
        conv.urgent = conv.urgent or urgent
        return
    conv.mode, conv.handoff_reason, conv.urgent = "waiting", reason[:200], urgent
    conv.waiting_since = now or utcnow()


def do_take_over(session: Session, *, conversation_id: int, actor: Actor) -> tuple[Conversation, ConversationMessage]:
    """Let a staff member take the conversation; the citizen is told."""
    conv = get(session, conversation_id, for_update=True)
    if conv.mode == "agent" and conv.agent != actor.name:
        raise ConversationError(f"conversation {conversation_id} is already taken by {conv.agent}")
    if conv.mode == "closed":
        raise ConversationError(f"conversation {conversation_id} is closed")
    conv.mode, conv.agent = "agent", actor.name
    note = record(session, conv, direction="out", author="bot",
                  text=messages.t("agent_joined", conv.locale, agent=actor.name))
    return conv, note


def _own(session: Session, conversation_id: int, actor: Actor) -> Conversation:
    conv = get(session, conversation_id, for_update=True)
    if conv.mode != "agent" or conv.agent != actor.name:
        raise ConversationError(f"take over conversation {conversation_id} before acting on it")
    return conv


def do_agent_message(session: Session, *, conversation_id: int, actor: Actor, text: str
                     ) -> tuple[Conversation, ConversationMessage]:
    """Send a staff member's message to the citizen through the conversation's channel."""
    if not text.strip():
        raise ConversationError("an empty message cannot be sent")
    conv = _own(session, conversation_id, actor)
    return conv, record(session, conv, direction="out", author=f"agent:{actor.name}", text=text.strip())


def do_hand_back(session: Session, *, conversation_id: int, actor: Actor) -> tuple[Conversation, ConversationMessage]:
    """Return the conversation to the bot, which resumes where the citizen left off."""
    conv = _own(session, conversation_id, actor)
    conv.mode, conv.agent, conv.urgent, conv.waiting_since, conv.misses = "bot", None, False, None, 0
    return conv, record(session, conv, direction="out", author="bot", text=messages.t("bot_back", conv.locale))


def do_close(session: Session, *, conversation_id: int, actor: Actor) -> tuple[Conversation, ConversationMessage]:
    """End the conversation; a later message from the citizen starts afresh with the bot."""
    conv = get(session, conversation_id, for_update=True)
    if conv.mode == "agent" and conv.agent != actor.name:
        raise ConversationError(f"conversation {conversation_id} is handled by {conv.agent}")
    conv.mode, conv.agent, conv.urgent, conv.waiting_since, conv.state, conv.misses = "closed", None, False, None, {}, 0
    return conv, record(session, conv, direction="out", author="bot", text=messages.t("closed", conv.locale))
