"""WeChat routes: the official account webhook ``/channels/wechat`` and the mini-program API ``/api/v1/miniprogram``.

WeChat waits five seconds for an answer, then resends the same MsgId. The webhook checks the signature
before reading the body, then gives the message's turn at most ``PASSIVE_BUDGET`` seconds from the
request's start: a turn done in time is answered with a passive reply, otherwise the answer is ``success``
and ``service`` sends the replies through the customer-service API. The mini-program authenticates with a
session token from ``/login`` (``miniprogram_service``); its petitions come from ``miniprogram_petitions``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from channels.webchat.api import ChatOut
from channels.wechat import miniprogram_petitions as petitions
from channels.wechat import miniprogram_service as mini
from channels.wechat import parse, service
from channels.wechat.adapter import NotConfigured
from channels.wechat.miniprogram_service import SESSION_TTL, issue_session, read_session
from channels.wechat.schemas import LoginIn, LoginOut, MiniChatIn, MiniHistoryOut, PetitionDetailOut, PetitionsOut
from core.db import Database

log = logging.getLogger(__name__)
router = APIRouter()

# WeChat gives up after 5 s; keep a margin for the network and for sealing the answer.
PASSIVE_BUDGET = 4.0
MAX_BODY = 64 * 1024
SUCCESS = "success"


def _credentials() -> parse.Credentials:
    try:
        return service.get_credentials()
    except NotConfigured as exc:
        raise HTTPException(503, str(exc)) from None


def _refuse(exc: parse.WebhookError) -> PlainTextResponse:
    log.warning("WeChat webhook refused (%s): %s", exc.status, exc.detail)
    return PlainTextResponse(exc.detail, status_code=exc.status)


@router.get("/channels/wechat", response_class=PlainTextResponse, tags=["wechat"])
def verify_url(request: Request) -> PlainTextResponse:
    """Answer WeChat's URL verification: echo ``echostr`` when the signature is right."""
    credentials = _credentials()
    try:
        parse.check_signature(credentials.token, request.query_params)
    except parse.WebhookError as exc:
        return _refuse(exc)
    echostr = request.query_params.get("echostr") or ""
    if not echostr or len(echostr) > 256:
        return PlainTextResponse("echostr is required", status_code=400)
    return PlainTextResponse(echostr)


@router.post("/channels/wechat", tags=["wechat"], response_class=PlainTextResponse)
async def webhook(request: Request) -> Response:
    """Take one message or event from WeChat; answer with a passive reply, or ``success`` and reply later."""
    deadline = time.monotonic() + PASSIVE_BUDGET
    credentials = _credentials()
    query = dict(request.query_params)
    try:
        parse.check_signature(credentials.token, query)  # before reading a byte of the body
    except parse.WebhookError as exc:
        return _refuse(exc)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return PlainTextResponse(f"request body over {MAX_BODY} bytes", status_code=413)
        chunks.append(chunk)
    db: Database = request.app.state.db
    body = b"".join(chunks)
    try:
        xml = await to_thread.run_sync(lambda: service.do_message(db, credentials=credentials, body=body, query=query,
                                                                  deadline=deadline))
    except parse.WebhookError as exc:
        return _refuse(exc)
    except service.TurnFailed:
        return PlainTextResponse("the message could not be processed; it is kept for a retry", status_code=500)
    if xml is None:
        return PlainTextResponse(SUCCESS)
    return Response(xml, media_type="application/xml")


_bearer = HTTPBearer(auto_error=False, description="the session token from POST /api/v1/miniprogram/login")


def current_openid(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Authenticate a mini-program request by its session token."""
    openid = read_session(credentials.credentials) if credentials and credentials.scheme.lower() == "bearer" else None
    if openid is None:
        raise HTTPException(401, "log in first: POST /api/v1/miniprogram/login, then send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return openid


OpenId = Annotated[str, Depends(current_openid)]


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Answer a mini-program service's refusal with its HTTP status."""
    try:
        yield
    except mini.Refused as exc:
        raise HTTPException(exc.status, exc.detail) from None


@router.post("/api/v1/miniprogram/login", response_model=LoginOut, tags=["miniprogram"])
def miniprogram_login(body: LoginIn) -> LoginOut:
    """Exchange a ``wx.login`` code (code2session) for a session token bound to the user's openid."""
    with refusals():
        openid = mini.do_login(body.code)
    return LoginOut(token=issue_session(openid), expires_in=SESSION_TTL)


@router.post("/api/v1/miniprogram/chat", response_model=ChatOut, tags=["miniprogram"])
def miniprogram_chat(request: Request, body: MiniChatIn, openid: OpenId) -> ChatOut:
    """Send one message and get the bot's replies (a repeated message_id returns the same replies)."""
    return mini.do_chat(request.app.state.db, openid=openid, message_id=body.message_id, text=body.text,
                        locale=body.locale)


@router.get("/api/v1/miniprogram/chat/history", response_model=MiniHistoryOut, tags=["miniprogram"])
def miniprogram_history(request: Request, openid: OpenId, after: int = Query(0, ge=0)) -> MiniHistoryOut:
    """Return the conversation after a sequence number (messages from an agent arrive this way)."""
    return mini.list_messages(request.app.state.db, openid=openid, after=after)


@router.get("/api/v1/miniprogram/petitions", response_model=PetitionsOut, tags=["miniprogram"])
def miniprogram_petitions(request: Request, openid: OpenId, locale: str = Query("zh-CN", max_length=10)) -> PetitionsOut:
    """List the petitions this mini-program user filed, newest first, with status, deadline and replies."""
    return petitions.list_petitions(request.app.state.db, openid=openid, locale=locale)


@router.get("/api/v1/miniprogram/petitions/{tracking_no}", response_model=PetitionDetailOut, tags=["miniprogram"])
def miniprogram_petition(request: Request, tracking_no: str, openid: OpenId,
                         locale: str = Query("zh-CN", max_length=10)) -> PetitionDetailOut:
    """Return one of this user's petitions in full."""
    with refusals():
        return petitions.get_petition(request.app.state.db, openid=openid, tracking_no=tracking_no, locale=locale)
