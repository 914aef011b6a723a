"""The agent API: conversations waiting for a human, take over, talk through the citizen's channel, hand back, close."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from bot import service as conversations
from bot.models import Conversation, ConversationMessage
from channels.service import enqueue_agent_message
from core.accounts import Actor, Role
from core.web import StaffActor, transaction

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
AGENT_ROLES = {Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.TRIAGE}


class ConversationOut(BaseModel):
    id: int
    channel: str
    mode: str
    urgent: bool
    locale: str
    agent: str | None
    handoff_reason: str | None
    waiting_since: datetime | None
    updated_at: datetime
    last_message: str | None
    draft: dict | None = Field(default=None, description="the intake form as the bot has it so far")


class MessageOut(BaseModel):
    seq: int
    direction: str
    author: str
    text: str
    created_at: datetime


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class AgentText(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


def _require_agent(actor: Actor) -> None:
    if actor.role not in AGENT_ROLES:
        raise HTTPException(403, f"a {actor.role} cannot act on conversations")


def _out(session, conv: Conversation, *, detail: bool = False):
    last = session.scalar(select(ConversationMessage.text).where(ConversationMessage.conversation_id == conv.id)
                          .order_by(ConversationMessage.seq.desc()).limit(1))
    state = conv.state or {}
    fields = dict(id=conv.id, channel=conv.channel, mode=conv.mode, urgent=conv.urgent, locale=conv.locale,
                  agent=conv.agent, handoff_reason=conv.handoff_reason, waiting_since=conv.waiting_since,
                  updated_at=conv.updated_at, last_message=(last or "")[:200] or None,
                  draft=state.get("slots") if state.get("flow") in ("intake", "confirm") else None)
    if not detail:
        return ConversationOut(**fields)
    return ConversationDetail(**fields, messages=[
        MessageOut(seq=m.seq, direction=m.direction, author=m.author, text=m.text, created_at=m.created_at)
        for m in conversations.history(session, conv)])


def _run(request: Request, actor: Actor, conversation_id: int, operation) -> ConversationDetail:
    _require_agent(actor)
    try:
        with transaction(request) as session:
            conv, message = operation(session, conversation_id=conversation_id, actor=actor)
            enqueue_agent_message(session, conv=conv, seq=message.seq, text=message.text)
            return _out(session, conv, detail=True)
    except conversations.ConversationError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("", response_model=list[ConversationOut])
def list_conversations(request: Request, actor: StaffActor,
                       mode: list[str] = Query(["waiting", "agent"], description="bot, waiting, agent, closed")):
    """List conversations waiting for or talking to a human, urgent first."""
    _require_agent(actor)
    bad = [m for m in mode if m not in conversations.MODES]
    if bad:
        raise HTTPException(422, f"unknown mode {bad[0]!r}")
    with transaction(request) as session:
        return [_out(session, c) for c in conversations.list_by_mode(session, modes=mode)]


@router.get("/stats", tags=["conversations"])
def conversation_stats(request: Request, actor: StaffActor) -> dict[str, int]:
    """Count conversations by mode."""
    _require_agent(actor)
    with transaction(request) as session:
        rows = session.execute(select(Conversation.mode, func.count()).group_by(Conversation.mode)).all()
        return {mode: count for mode, count in rows}


@router.get("/{conversation_id}", response_model=ConversationDetail)
def get_conversation(request: Request, actor: StaffActor, conversation_id: int):
    """Return a conversation with its transcript and the bot's draft of the petition."""
    _require_agent(actor)
    try:
        with transaction(request) as session:
            return _out(session, conversations.get(session, conversation_id), detail=True)
    except conversations.ConversationError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/{conversation_id}/takeover", response_model=ConversationDetail)
def take_over(request: Request, actor: StaffActor, conversation_id: int):
    """Take the conversation: the bot falls silent and the citizen is told a person has joined."""
    return _run(request, actor, conversation_id, conversations.do_take_over)


@router.post("/{conversation_id}/messages", response_model=ConversationDetail)
def send_message(request: Request, actor: StaffActor, conversation_id: int, body: AgentText):
    """Send a message to the citizen through their channel."""
    return _run(request, actor, conversation_id,
                lambda session, **kw: conversations.do_agent_message(session, text=body.text, **kw))


@router.post("/{conversation_id}/handback", response_model=ConversationDetail)
def hand_back(request: Request, actor: StaffActor, conversation_id: int):
    """Return the conversation to the bot."""
    return _run(request, actor, conversation_id, conversations.do_hand_back)


@router.post("/{conversation_id}/close", response_model=ConversationDetail)
def close(request: Request, actor: StaffActor, conversation_id: int):
    """End the conversation."""
    return _run(request, actor, conversation_id, conversations.do_close)
