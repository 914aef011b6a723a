"""Web chat routes: the citizen page, a WebSocket and a plain HTTP fallback, over the same inbox and outbox."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from bot import service as conversations
from channels import service
from channels.webchat import push
from core import ratelimit
from core.db import Database

log = logging.getLogger(__name__)
router = APIRouter()
STATIC = Path(__file__).parent / "static"
CHANNEL = "webchat"
ID_PATTERN = r"^[A-Za-z0-9_\-]{8,128}$"
PUSH_INTERVAL = 1.0


class ChatIn(BaseModel):
    conversation_id: str = Field(pattern=ID_PATTERN, description="a client-made UUID, kept across reloads")
    message_id: str = Field(pattern=ID_PATTERN, description="unique per message; a repeat returns the same replies")
    text: str = Field(default="", max_length=20_000)
    locale: str = Field(default="zh-CN", max_length=10)


class ReplyOut(BaseModel):
    text: str
    quick_replies: list[str]
    seq: int | None = None


class ChatOut(BaseModel):
    replies: list[ReplyOut]


class MessageOut(BaseModel):
    seq: int
    direction: str
    author: str
    text: str
    quick_replies: list[str]
    created_at: str


class HistoryOut(BaseModel):
    messages: list[MessageOut]


def _author(raw: str) -> str:
    return "agent" if raw.startswith("agent:") else raw


def _chat(db: Database, body: ChatIn) -> ChatOut:
    # Message ids are the client's: scope them to the conversation so that one chat cannot replay another's.
    scoped = hashlib.sha256(f"{body.conversation_id}:{body.message_id}".encode()).hexdigest()
    result = service.receive(db, service.InboundMessage(channel=CHANNEL, sender=body.conversation_id, message_id=scoped,
                                                        text=body.text, locale=body.locale), in_band=True)
    return ChatOut(replies=[ReplyOut(text=r.text, quick_replies=r.quick_replies, seq=r.seq) for r in result.replies])


def _history(db: Database, conversation_id: str, after: int) -> list[MessageOut]:
    with db.session() as session:
        conv = conversations.get_by_identity(session, channel=CHANNEL, external_id=conversation_id)
        if conv is None:
            return []
        return [MessageOut(seq=m.seq, direction=m.direction, author=_author(m.author), text=m.text,
                           quick_replies=list(m.quick_replies or []), created_at=m.created_at.isoformat())
                for m in conversations.history(session, conv, after=after)]


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """Serve the citizen chat page."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.post("/api/v1/chat", response_model=ChatOut, tags=["webchat"])
def chat(request: Request, body: ChatIn) -> ChatOut:
    """Send one citizen message and get the bot's replies (a repeated message_id returns the same replies)."""
    return _chat(request.app.state.db, body)


@router.get("/api/v1/chat/{conversation_id}/history", response_model=HistoryOut, tags=["webchat"])
def chat_history(request: Request, conversation_id: str, after: int = Query(0, ge=0)) -> HistoryOut:
    """Return the conversation's messages after a sequence number (agent messages arrive this way too)."""
    if not re.fullmatch(ID_PATTERN, conversation_id):
        raise HTTPException(422, "conversation_id must be 8 to 128 letters, digits, '-' or '_'")
    return HistoryOut(messages=_history(request.app.state.db, conversation_id, after))


def _render(m) -> dict:
    return MessageOut(seq=m.seq, direction=m.direction, author=_author(m.author), text=m.text,
                      quick_replies=list(m.quick_replies or []), created_at=m.created_at.isoformat()).model_dump()


@router.websocket("/ws/chat")
async def chat_socket(socket: WebSocket) -> None:
    """Carry a web chat over a WebSocket: messages in, replies and agent messages out."""
    db: Database = socket.app.state.db
    await socket.accept()
    lock = asyncio.Lock()

    async def send(payload: dict) -> None:
        async with lock:
            await socket.send_text(json.dumps(payload, ensure_ascii=False))

    # Messages written by an agent (or anything not sent in answer to this socket) reach the page through
    # the process's one shared poller, not a query per socket.
    subscriber = push.Subscriber(send=send)
    pusher = push.pusher_for(db, interval=PUSH_INTERVAL, render=_render)
    pusher.subscribe(subscriber)
    try:
        while True:
            raw = await socket.receive_text()
            try:
                frame = json.loads(raw)
                kind = frame.get("type") if isinstance(frame, dict) else None
                if kind == "hello":
                    conversation_id = ChatIn(conversation_id=frame.get("conversation_id", ""), message_id="hello-frame",
                                             locale=frame.get("locale") or "zh-CN").conversation_id
                    after = int(frame.get("after") or 0)
                    with subscriber.turn():
                        past = await to_thread.run_sync(_history, db, conversation_id, after)
                        subscriber.conversation_id = conversation_id
                        subscriber.seen = max([after] + [m.seq for m in past])
                        await send({"type": "history", "messages": [m.model_dump() for m in past]})
                elif kind == "message":
                    body = ChatIn.model_validate({k: frame.get(k) for k in ("conversation_id", "message_id", "text", "locale")
                                                  if frame.get(k) is not None})
                    # Frames count with POST /api/v1/chat: a socket is no way around the limit.
                    refused = await ratelimit.check_socket(socket, group="chat")
                    if refused is not None:
                        await send({**refused, "in_reply_to": body.message_id})
                        continue
                    with subscriber.turn():
                        if subscriber.conversation_id != body.conversation_id:
                            subscriber.conversation_id, subscriber.seen = body.conversation_id, 0
                        await send({"type": "typing"})
                        out = await to_thread.run_sync(_chat, db, body)
                        subscriber.seen = max([subscriber.seen] + [r.seq or 0 for r in out.replies])
                        await send({"type": "replies", "in_reply_to": body.message_id,
                                    "replies": [r.model_dump() for r in out.replies]})
                else:
                    await send({"type": "error", "detail": "unknown frame type; use 'hello' or 'message'"})
            except (ValueError, ValidationError) as exc:
                detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "invalid JSON frame"
                await send({"type": "error", "detail": detail})
    except WebSocketDisconnect:
        pass
    finally:
        pusher.unsubscribe(subscriber)
