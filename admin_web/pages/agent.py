"""The agent inbox: conversations waiting for a human, taking them over, talking to the citizen, handing back."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from admin_web.web import Console, person, render, require, tr
from bot import messages as bot_messages
from bot import service as conversations
from bot.models import Conversation, ConversationMessage
from cases import service as cases
from cases.handling import service as handling
from cases.models import Petition
from channels.service import enqueue_agent_message
from core.accounts import Role
from core.db import Database, utcnow
from core.web import database, transaction

router = APIRouter()
Agent = Annotated[Console, Depends(require(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]

# The event streams: how often they look at the database, when they send a keep-alive comment, and how long
# one stream lives before the browser's EventSource reconnects (it does so by itself after `retry` ms).
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
RETRY_MS = 3000
MAX_REPLY = 5000
ACTIVE = ("waiting", "agent")

CHANNELS: dict[str, tuple[str, str]] = {
    "webchat": ("网页聊天", "Web chat"), "wechat": ("微信", "WeChat"), "miniprogram": ("微信小程序", "Mini program"),
    "sms": ("短信", "SMS"), "phone": ("电话", "Phone"), "open311": ("Open311", "Open311"),
}
LANGUAGES: dict[str, tuple[str, str]] = {"zh": ("中文", "Chinese"), "en": ("英文", "English")}
MODES: dict[str, tuple[str, str]] = {
    "bot": ("机器人应答", "Bot answering"), "waiting": ("等待人工", "Waiting for an agent"),
    "agent": ("人工处理中", "With an agent"), "closed": ("已结束", "Closed"),
}
REASONS: dict[str, tuple[str, str]] = {
    "citizen asked for a person": ("群众要求转人工", "The citizen asked for a person"),
    "not understood twice": ("机器人两次未能理解", "The bot did not understand twice"),
}
RISKS: dict[str, tuple[str, str]] = {"self_harm": ("自伤风险", "self-harm"), "violence": ("暴力风险", "violence")}
# Outcomes of the POST actions, shown after the redirect; only these keys are ever read from the URL.
DONE: dict[str, tuple[str, str]] = {
    "taken": ("已接管会话，机器人不再应答。", "You have taken over; the bot is silent now."),
    "sent": ("消息已发送给群众。", "Message sent to the citizen."),
    "handed_back": ("已交还机器人。", "Handed back to the bot."),
    "closed": ("会话已结束。", "Conversation closed."),
}


def reason_label(reason: str | None) -> tuple[str, str]:
    """Return the handoff reason as a (zh, en) pair."""
    if not reason:
        return ("—", "—")
    if reason in REASONS:
        return REASONS[reason]
    if reason.startswith("risk:"):
        kind = reason.split(":", 1)[1].strip()
        zh, en = RISKS.get(kind, (kind, kind))
        return (f"风险提示：{zh}", f"Risk cue: {en}")
    return (reason, reason)


def _author(author: str) -> tuple[str, str, str]:
    """Return the css class and the (zh, en) label of a message's author."""
    if author == "citizen":
        return "in", "群众", "Citizen"
    if author.startswith("agent:"):
        name = author.split(":", 1)[1]
        return "agent", f"坐席 {name}", f"Agent {name}"
    return "out", "机器人", "Bot"


def _waited(since: datetime | None, now: datetime) -> tuple[str, str] | None:
    if since is None:
        return None
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return (f"{minutes} 分钟", f"{minutes} min")
    return (f"{minutes // 60} 小时 {minutes % 60} 分钟", f"{minutes // 60} h {minutes % 60} min")


def _last_citizen_messages(session: Session, ids: list[int]) -> dict[int, ConversationMessage]:
    if not ids:
        return {}
    latest = (select(ConversationMessage.conversation_id, func.max(ConversationMessage.seq).label("seq"))
              .where(ConversationMessage.conversation_id.in_(ids), ConversationMessage.author == "citizen")
              .group_by(ConversationMessage.conversation_id).subquery())
    rows = session.scalars(select(ConversationMessage).join(latest, and_(
        latest.c.conversation_id == ConversationMessage.conversation_id, latest.c.seq == ConversationMessage.seq)))
    return {m.conversation_id: m for m in rows}


def _row(conv: Conversation, last: ConversationMessage | None, now: datetime) -> dict:
    """Describe a conversation for a list row; `last` is the citizen's latest message."""
    text = (last.text if last else "") or ""
    return {"id": conv.id, "channel": CHANNELS.get(conv.channel, (conv.channel, conv.channel)),
            "language": LANGUAGES.get(conv.locale, (conv.locale, conv.locale)), "locale": conv.locale, "urgent": conv.urgent,
            "waiting_since": conv.waiting_since, "waited": _waited(conv.waiting_since, now),
            "reason": reason_label(conv.handoff_reason), "agent": conv.agent, "mode": conv.mode,
            "last_text": text[:140] + ("…" if len(text) > 140 else ""), "last_at": last.created_at if last else None,
            # The citizen spoke last: nobody has answered yet.
            "unanswered": last is not None and last.seq == conv.last_seq}


def _inbox(session: Session, console: Console) -> dict:
    waiting = conversations.list_by_mode(session, modes=["waiting"], limit=200)
    taken = conversations.list_by_mode(session, modes=["agent"], limit=200)
    last = _last_citizen_messages(session, [c.id for c in waiting + taken])
    now = utcnow()
    rows = {c.id: _row(c, last.get(c.id), now) for c in waiting + taken}
    return {"waiting": [rows[c.id] for c in waiting],
            "mine": [rows[c.id] for c in taken if c.agent == console.actor.name],
            "others": [rows[c.id] for c in taken if c.agent != console.actor.name]}


def inbox_signature(session: Session) -> str:
    """Return a short digest of the active conversations: which, in what mode, with whom, and their last message."""
    rows = session.execute(select(Conversation.id, Conversation.mode, Conversation.agent, Conversation.urgent,
                                  Conversation.last_seq).where(Conversation.mode.in_(ACTIVE)).order_by(Conversation.id))
    return _digest(repr([tuple(r) for r in rows]))


def conversation_signature(session: Session, conversation_id: int) -> str | None:
    """Return a short digest of one conversation's mode, agent and last message; None when it does not exist."""
    row = session.execute(select(Conversation.mode, Conversation.agent, Conversation.urgent, Conversation.last_seq)
                          .where(Conversation.id == conversation_id)).first()
    return None if row is None else _digest(repr(tuple(row)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _probe(db: Database, read: Callable[[Session], str | None]) -> str | None:
    with db.session() as session:
        return read(session)


async def _stream(request: Request, read: Callable[[Session], str | None], since: str | None) -> AsyncIterator[str]:
    """Send `data:` whenever the digest changes (or differs from the page's), comments as keep-alive."""
    db = database(request)
    started = last_sent = time.monotonic()
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    previous = since or await run_in_threadpool(_probe, db, read)
    while time.monotonic() - started < STREAM_SECONDS:
        if await request.is_disconnected():
            return
        current = await run_in_threadpool(_probe, db, read)
        if current is None:  # the conversation is gone
            yield "event: gone\ndata: gone\n\n"
            return
        if current != previous:
            previous = current
            last_sent = time.monotonic()
            yield f"data: {current}\n\n"
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)


def _event_response(request: Request, read: Callable[[Session], str | None], since: str | None) -> StreamingResponse:
    return StreamingResponse(_stream(request, read, since), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _flash(console: Console, done: str | None) -> str | None:
    pair = DONE.get(done or "")
    return tr(console.lang)(*pair) if pair else None


@router.get("/agent", include_in_schema=False)
def inbox(request: Request, console: Agent, done: str | None = None):
    """Show the conversations waiting for a human and those this agent has taken."""
    with transaction(request) as session:
        lists = _inbox(session, console)
        signature = inbox_signature(session)
    return render(request, "agent/inbox.html", console, signature=signature, flash=_flash(console, done), **lists)


@router.get("/agent/list", include_in_schema=False)
def inbox_fragment(request: Request, console: Agent):
    """Return the inbox lists alone, for the live region."""
    with transaction(request) as session:
        lists = _inbox(session, console)
    return render(request, "agent/_lists.html", console, **lists)


@router.get("/agent/events", include_in_schema=False)
def inbox_events(request: Request, console: Agent, since: str | None = None):
    """Stream an event whenever a conversation starts or stops waiting, changes hands, or gets a message."""
    return _event_response(request, inbox_signature, since)


def _petitions(session: Session, conv: Conversation) -> list[Petition]:
    source = cases.source_digest(conv.channel, conv.external_id)
    condition = Petition.source_hash == source
    if conv.petition_id:
        condition = or_(condition, Petition.id == conv.petition_id)
    return list(session.scalars(select(Petition).where(condition).order_by(Petition.received_at.desc()).limit(20)))


def _draft(console: Console, conv: Conversation) -> dict | None:
    state = conv.state or {}
    if state.get("flow") not in ("intake", "confirm"):
        return None
    slots = state.get("slots") or {}
    who = person(console, slots.get("name"), slots.get("phone"))
    labels = bot_messages.SLOT_LABELS
    where = " ".join(str(v) for v in (slots.get("area_name"), slots.get("address")) if v)
    previous = None
    if "previous" in slots:
        previous = (f"是 {slots.get('previous_no') or ''}".strip(), f"Yes {slots.get('previous_no') or ''}".strip()) \
            if slots.get("previous") else ("否", "No")
    name = ("匿名", "Anonymous") if slots.get("anonymous") else who["name"]
    fields = [("description", slots.get("description")), ("area", where or None), ("occurred", slots.get("occurred")),
              ("demand", slots.get("demand")), ("head_count", slots.get("head_count")), ("previous", previous),
              ("name", name), ("phone", who["phone"])]
    rows = []
    for key, value in fields:
        if value is None or value == "":
            continue
        rows.append({"label": labels[key], "value": value if isinstance(value, tuple) else (str(value), str(value))})
    asking = state.get("asking")
    return {"rows": rows, "confirming": state.get("flow") == "confirm",
            "asking": labels.get(asking) if isinstance(asking, str) else None,
            "consent": bool(slots.get("consent"))}


def _history(session: Session, conv: Conversation) -> list[dict]:
    out = []
    for m in conversations.history(session, conv, limit=1000):
        kind, zh, en = _author(m.author)
        out.append({"seq": m.seq, "kind": kind, "who": (zh, en), "text": m.text, "at": m.created_at})
    return out


def _conversation_page(request: Request, console: Console, conversation_id: int, *, error: tuple[str, str] | None = None,
                       status_code: int = 200, done: str | None = None, draft_text: str = ""):
    with transaction(request) as session:
        conv = conversations.get(session, conversation_id)
        last = _last_citizen_messages(session, [conv.id]).get(conv.id)
        context = {
            "conv": _row(conv, last, utcnow()), "mode_label": MODES.get(conv.mode, (conv.mode, conv.mode)),
            "mine": conv.mode == "agent" and conv.agent == console.actor.name,
            "messages": _history(session, conv), "draft": _draft(console, conv),
            "petitions": [{"tracking_no": p.tracking_no, "title": p.title, "status": p.status,
                           "received_at": p.received_at} for p in _petitions(session, conv)],
            "canned": sorted(handling.list_templates(session, kind="canned"),
                             key=lambda c: (c.language != conv.locale, c.name)),
            "signature": conversation_signature(session, conv.id),
        }
    flash = tr(console.lang)(*error) if error else _flash(console, done)
    return render(request, "agent/conversation.html", console, status_code=status_code, flash=flash,
                  flash_kind="error" if error else "ok", reply_text=draft_text, languages=LANGUAGES, **context)


def _not_found(request: Request, console: Console):
    return render(request, "error.html", console, status_code=404, heading=("未找到", "Not found"),
                  detail=("没有这个会话。", "No such conversation."))


@router.get("/agent/{conversation_id}", include_in_schema=False)
def conversation(request: Request, console: Agent, conversation_id: int, done: str | None = None):
    """Show a conversation's history, the bot's draft or the filed petitions, and the agent's actions."""
    try:
        return _conversation_page(request, console, conversation_id, done=done)
    except conversations.ConversationNotFound:
        return _not_found(request, console)


@router.get("/agent/{conversation_id}/messages", include_in_schema=False)
def conversation_fragment(request: Request, console: Agent, conversation_id: int):
    """Return the conversation's history alone, for the live region."""
    try:
        with transaction(request) as session:
            conv = conversations.get(session, conversation_id)
            context = {"messages": _history(session, conv), "mode_label": MODES.get(conv.mode, (conv.mode, conv.mode)),
                       "conv": {"id": conv.id, "agent": conv.agent, "mode": conv.mode, "urgent": conv.urgent}}
    except conversations.ConversationNotFound:
        return _not_found(request, console)
    return render(request, "agent/_messages.html", console, **context)


@router.get("/agent/{conversation_id}/events", include_in_schema=False)
def conversation_events(request: Request, console: Agent, conversation_id: int, since: str | None = None):
    """Stream an event whenever the conversation gets a message or changes mode or agent."""
    with transaction(request) as session:
        if conversation_signature(session, conversation_id) is None:
            return _not_found(request, console)
    return _event_response(request, lambda session: conversation_signature(session, conversation_id), since)


def _explain(request: Request, console: Console, conversation_id: int, exc: conversations.ConversationError
             ) -> tuple[str, str]:
    """Say in both languages why an action was refused, from the conversation's present state."""
    with transaction(request) as session:
        conv = conversations.get(session, conversation_id)
        mode, agent = conv.mode, conv.agent
    if mode == "closed":
        return ("会话已结束，无法操作。群众再次发消息时会重新开始。",
                "The conversation is closed; it starts afresh when the citizen writes again.")
    if mode == "agent" and agent != console.actor.name:
        return (f"此会话已由 {agent} 接管。", f"{agent} has already taken this conversation.")
    if mode != "agent":
        return ("请先接管此会话，再回复或交还机器人。", "Take over this conversation before replying or handing it back.")
    return (str(exc), str(exc))


def _act(request: Request, console: Console, conversation_id: int, operation, done: str, *, target: str | None = None,
         draft_text: str = ""):
    """Run one conversation operation, send its message on the citizen's channel, and redirect; re-render on refusal."""
    try:
        with transaction(request) as session:
            conv, message = operation(session, conversation_id=conversation_id, actor=console.actor)
            enqueue_agent_message(session, conv=conv, seq=message.seq, text=message.text)
    except conversations.ConversationNotFound:
        return _not_found(request, console)
    except conversations.ConversationError as exc:
        return _conversation_page(request, console, conversation_id, error=_explain(request, console, conversation_id, exc),
                                  status_code=exc.status, draft_text=draft_text)
    return RedirectResponse(f"{target or f'/console/agent/{conversation_id}'}?done={done}", status_code=303)


@router.post("/agent/{conversation_id}/takeover", include_in_schema=False)
def take_over(request: Request, console: Agent, conversation_id: int):
    """Take the conversation over: the bot falls silent and the citizen is told a person has joined."""
    return _act(request, console, conversation_id, conversations.do_take_over, "taken")


@router.post("/agent/{conversation_id}/reply", include_in_schema=False)
def reply(request: Request, console: Agent, conversation_id: int, text: Annotated[str, Form()] = ""):
    """Send the agent's message to the citizen through their channel."""
    if not text.strip() or len(text) > MAX_REPLY:
        error = ("回复内容不能为空。", "The reply is empty.") if not text.strip() else \
            (f"回复不能超过 {MAX_REPLY} 字。", f"A reply may have at most {MAX_REPLY} characters.")
        try:
            return _conversation_page(request, console, conversation_id, error=error, status_code=422, draft_text=text)
        except conversations.ConversationNotFound:
            return _not_found(request, console)
    return _act(request, console, conversation_id,
                lambda session, **kw: conversations.do_agent_message(session, text=text, **kw), "sent", draft_text=text)


@router.post("/agent/{conversation_id}/handback", include_in_schema=False)
def hand_back(request: Request, console: Agent, conversation_id: int):
    """Return the conversation to the bot."""
    return _act(request, console, conversation_id, conversations.do_hand_back, "handed_back", target="/console/agent")


@router.post("/agent/{conversation_id}/close", include_in_schema=False)
def close(request: Request, console: Agent, conversation_id: int):
    """End the conversation."""
    return _act(request, console, conversation_id, conversations.do_close, "closed", target="/console/agent")
