"""WeChat routes: the official account webhook ``/channels/wechat`` and the mini-program API ``/api/v1/miniprogram``.

WeChat waits five seconds for an answer, then resends the same MsgId (three tries in all). Each turn runs
in a worker thread; the request waits at most ``PASSIVE_BUDGET`` seconds for it. A turn that finishes in
time is answered with a passive reply; otherwise the answer is ``success`` and the replies leave through
the customer-service API once the turn is done. The outbox rows decide which of the two happened, so a
reply is delivered once however many deliveries (or processes) race: rows are born ``delivered`` (in
band), a passive answer claims them (``platform_msg_id = 'passive'``) and a hand-over turns unclaimed
ones ``pending`` for the sender, each with one conditional UPDATE.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import or_, select, update

from bot import messages
from bot import service as conversations
from cases import service as cases
from cases.models import Petition
from channels import registry, service
from channels.models import InboxMessage, OutboxMessage
from channels.service import InboundMessage, Result
from channels.webchat.api import ChatOut, ReplyOut
from channels.wechat import parse
from channels.wechat.adapter import CHANNEL, MINIPROGRAM, miniprogram_client, official_client, render
from channels.wechat.client import WeChatAPIError
from core.db import Database, utcnow
from core.security import Signer
from core.settings import ROOT, get_settings
from core.tasks import enqueue

log = logging.getLogger(__name__)
router = APIRouter()

# WeChat gives up after 5 s; keep a margin for the network and for sealing the answer.
PASSIVE_BUDGET = 4.0
# A passive reply is one text message: longer turns go out as several customer-service messages.
PASSIVE_MAX_BYTES = 2000
PASSIVE = "passive"
MAX_BODY = 64 * 1024
SUCCESS = "success"
SESSION_TTL = 7 * 24 * 3600
ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"


# Official account ---------------------------------------------------------------------------------------

def _credentials() -> parse.Credentials:
    settings = get_settings()
    if settings.wechat_token is None:
        raise HTTPException(503, "the WeChat channel is not configured (PETITION_WECHAT_TOKEN)")
    try:
        return parse.Credentials(token=settings.wechat_token.get_secret_value(), appid=settings.wechat_appid,
                                 aes_key=settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None)
    except ValueError as exc:
        log.error("WeChat channel misconfigured: %s", exc)
        raise HTTPException(503, f"the WeChat channel is misconfigured: {exc}") from None


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
    started = time.monotonic()
    credentials = _credentials()
    query = dict(request.query_params)
    try:
        parse.check_signature(credentials.token, query)  # before reading a byte of the body
    except parse.WebhookError as exc:
        return _refuse(exc)
    body, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return PlainTextResponse(f"request body over {MAX_BODY} bytes", status_code=413)
        body.append(chunk)
    return await to_thread.run_sync(_webhook, request.app.state.db, credentials, b"".join(body), query, started)


def _webhook(db: Database, credentials: parse.Credentials, body: bytes, query: dict[str, str], started: float) -> Response:
    try:
        message, encrypted = parse.open_envelope(body, query, credentials)
    except parse.WebhookError as exc:
        return _refuse(exc)
    if not message.actionable:
        return PlainTextResponse(SUCCESS)
    flight = flights.join((message.openid, message.platform_id), lambda: _turn(db, message), lambda r: hand_over(db, r))
    if not flights.wait(flight, max(0.0, PASSIVE_BUDGET - (time.monotonic() - started))):
        return PlainTextResponse(SUCCESS)  # the turn goes on; its replies leave through the customer-service API
    if isinstance(flight.error, parse.WebhookError):
        return _refuse(flight.error)
    if flight.error is not None:
        # Nothing was lost: the inbox keeps the message as failed and WeChat's resend processes it again.
        return PlainTextResponse("the message could not be processed; it is kept for a retry", status_code=500)
    text = claim_passive(db, flight.result)
    if text is None:
        return PlainTextResponse(SUCCESS)
    xml = parse.render_text_reply(to_user=message.openid, from_user=message.account, content=text,
                                  create_time=message.create_time)
    if encrypted:
        xml = parse.seal(xml, credentials, nonce=query["nonce"], timestamp=query["timestamp"])
    return Response(xml, media_type="application/xml")


def _turn(db: Database, message: parse.WeChatMessage) -> Result:
    platform_id = message.platform_id
    sender = _stored_sender(db, platform_id)
    if sender is None:
        inbound = parse.to_inbound(message, channel=CHANNEL, media=WeChatMedia())
        service.store(db, inbound)
        sender = _stored_sender(db, platform_id)
    else:
        # A resend: the stored copy is what counts; do not download or transcribe its media again.
        inbound = InboundMessage(channel=CHANNEL, sender=message.openid, message_id=platform_id)
    if sender != message.openid:
        # The inbox is keyed on MsgId alone: never let another sender reach (or be answered with) that message.
        raise parse.Forbidden("this MsgId belongs to another sender")
    return service.receive(db, inbound, in_band=True)


def _stored_sender(db: Database, platform_id: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(InboxMessage.sender).where(InboxMessage.channel == CHANNEL,
                                                                InboxMessage.platform_msg_id == platform_id))


def claim_passive(db: Database, result: Result | None) -> str | None:
    """Claim a turn's replies for a passive answer and return its text; None when they go (or went) another way."""
    if result is None:
        return None
    ids = [r.outbox_id for r in result.replies if r.outbox_id]
    if not ids:
        return None
    text = "\n\n".join(render(r.text, r.quick_replies) for r in result.replies)
    if len(text.encode()) > PASSIVE_MAX_BYTES:
        hand_over(db, result)
        return None
    with db.transaction() as session:
        claimed = session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered",
            or_(OutboxMessage.platform_msg_id.is_(None), OutboxMessage.platform_msg_id == PASSIVE))
            .values(platform_msg_id=PASSIVE).execution_options(synchronize_session=False)).rowcount
    return text if claimed == len(ids) else None


def hand_over(db: Database, result: Result) -> int:
    """Send a turn's unclaimed replies through the customer-service API; return how many were handed over."""
    ids = [r.outbox_id for r in result.replies if r.outbox_id]
    if not ids:
        return 0
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered", OutboxMessage.platform_msg_id.is_(None))
            .order_by(OutboxMessage.id).with_for_update()))
        for row in rows:
            row.status, row.sent_at, row.attempts = "pending", None, 0
        if rows:
            enqueue(session, "wechat.send_replies", outbox_ids=[row.id for row in rows])
    return len(rows)


class _Flight:
    """One message's turn in this process, and the deliveries waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.waiting = 0
        self.result: Result | None = None
        self.error: BaseException | None = None


class Flights:
    """Turns in progress by message key: a resend joins the running turn instead of starting another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], _Flight] = {}
        self._threads: set[threading.Thread] = set()

    def join(self, key: tuple[str, str], work: Callable[[], Result], orphaned: Callable[[Result], object]) -> _Flight:
        """Wait on the turn of this key, starting it if none runs; call ``wait`` next."""
        with self._lock:
            flight = self._active.get(key)
            if flight is None:
                flight = self._active[key] = _Flight()
                thread = threading.Thread(target=self._run, args=(key, flight, work, orphaned),
                                          name=f"wechat-turn-{key[1][:24]}")
                self._threads.add(thread)
                thread.start()
            with flight.lock:
                flight.waiting += 1
        return flight

    def _run(self, key, flight: _Flight, work: Callable[[], Result], orphaned: Callable[[Result], object]) -> None:
        try:
            result, error = work(), None
        except Exception as exc:  # receive() has logged it and kept the message as failed (if it got that far)
            result, error = None, exc
        with self._lock:
            self._active.pop(key, None)
        with flight.lock:
            flight.result, flight.error = result, error
            flight.done.set()
            nobody_waits = flight.waiting == 0
        if nobody_waits and error is not None:
            log.error("WeChat message %s failed after every delivery had answered: %r", key[1], error)
        try:
            if nobody_waits and result is not None:
                # Every delivery has answered "success": the replies must leave through the API.
                orphaned(result)
        except Exception:
            log.exception("handing WeChat message %s to the customer-service API failed", key[1])
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def wait(self, flight: _Flight, timeout: float) -> bool:
        """Wait for the turn up to ``timeout`` seconds; True if it finished (then this delivery owns the answer)."""
        flight.done.wait(timeout)
        with flight.lock:
            # Under the lock: either the turn saw this delivery waiting, or this delivery sees it unfinished.
            flight.waiting -= 1
            return flight.done.is_set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no turn runs (tests, shutdown); return False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                with self._lock:
                    return not self._threads


flights = Flights()


# Media ----------------------------------------------------------------------------------------------------

EXTENSIONS = {"image/jpeg": ".jpg", "image/jpg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
              "audio/amr": ".amr", "voice/amr": ".amr", "audio/speex": ".speex", "voice/speex": ".speex",
              "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
              "audio/wave": ".wav", "video/mp4": ".mp4"}


def media_root() -> Path:
    """Return the folder media files are stored in (PETITION_MEDIA_DIR, relative to the project root)."""
    folder = Path(get_settings().media_dir)
    return folder if folder.is_absolute() else ROOT / folder


def get_transcriber():
    """Return the speech-to-text engine (the phone channel's), imported only when a voice message needs it."""
    from channels.phone.transcriber import get_transcriber as phone_transcriber

    return phone_transcriber()


class WeChatMedia:
    """Fetch media through the official account's API and transcribe voice without WeChat's recognition."""

    def fetch(self, media_id: str, kind: str) -> str | None:
        """Download a media file into the media folder; None (logged) if WeChat cannot serve it."""
        try:
            media = official_client().download_media(media_id)
        except (WeChatAPIError, httpx.HTTPError, registry.DeliveryError) as exc:
            log.warning("WeChat %s %s could not be downloaded: %s", kind, media_id[:32], exc)
            return None
        suffix = EXTENSIONS.get(media.content_type) or Path(media.filename or "").suffix.lower()
        if not (suffix[1:].isalnum() and len(suffix) <= 6):
            suffix = ".bin"
        folder = media_root() / "wechat" / kind / utcnow().strftime("%Y%m")
        path = folder / f"{uuid.uuid4().hex}{suffix}"  # never a name WeChat (or a forger) chose
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(media.content)
        except OSError as exc:
            log.error("WeChat %s %s could not be stored in %s: %s", kind, media_id[:32], folder, exc)
            return None
        return str(path)

    def transcribe(self, path: str) -> str | None:
        """Return what the recording says; None (logged) when no engine is installed or it fails."""
        try:
            result = get_transcriber().transcribe(path)
        except ImportError:
            log.warning("voice message without WeChat recognition, and no transcriber installed")
            return None
        except Exception:
            log.exception("transcribing %s failed", path)
            return None
        text = (getattr(result, "text", "") or "").strip()
        return text or None


# Mini-program ---------------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="the session token from POST /api/v1/miniprogram/login")


def _signer() -> Signer:
    return Signer(get_settings().secret_key.get_secret_value(), b"miniprogram-session")


def issue_session(openid: str, *, now: float | None = None) -> str:
    """Return a signed session token bound to a mini-program user's openid, valid for SESSION_TTL seconds."""
    body = base64.urlsafe_b64encode(json.dumps({"o": openid, "e": int(now or time.time()) + SESSION_TTL},
                                               separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{body}.{_signer().sign(body.encode())}"


def read_session(token: str, *, now: float | None = None) -> str | None:
    """Return the openid of a valid, unexpired session token; None otherwise."""
    body, _, mac = token.partition(".")
    if not body or not mac or len(token) > 512 or not _signer().verify(body.encode(), mac):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        openid, expires = str(data["o"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    return openid if expires > (now or time.time()) and parse.OPENID.match(openid) else None


def current_openid(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Authenticate a mini-program request by its session token."""
    openid = read_session(credentials.credentials) if credentials and credentials.scheme.lower() == "bearer" else None
    if openid is None:
        raise HTTPException(401, "log in first: POST /api/v1/miniprogram/login, then send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return openid


OpenId = Annotated[str, Depends(current_openid)]


class LoginIn(BaseModel):
    code: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$", description="the code from wx.login()")


class LoginOut(BaseModel):
    token: str
    token_type: str = "Bearer"
    expires_in: int


class MiniChatIn(BaseModel):
    message_id: str = Field(pattern=ID_PATTERN, description="unique per message; a repeat returns the same replies")
    text: str = Field(default="", max_length=20_000)
    locale: str = Field(default="zh-CN", max_length=10)


class MiniMessageOut(BaseModel):
    seq: int
    direction: str
    author: str
    text: str
    quick_replies: list[str]
    created_at: str


class MiniHistoryOut(BaseModel):
    messages: list[MiniMessageOut]


class PetitionReplyOut(BaseModel):
    kind: str
    text: str
    created_at: str


class PetitionOut(BaseModel):
    tracking_no: str
    title: str
    status: str
    status_name: str
    received_at: str
    due_at: str | None = Field(description="the deadline of the current stage, if one runs")
    unit: str | None
    replies: list[PetitionReplyOut]


class PetitionDetailOut(PetitionOut):
    content: str
    address: str | None
    demand: str | None
    supplements: list[dict]


class PetitionsOut(BaseModel):
    petitions: list[PetitionOut]


@router.post("/api/v1/miniprogram/login", response_model=LoginOut, tags=["miniprogram"])
def miniprogram_login(body: LoginIn) -> LoginOut:
    """Exchange a ``wx.login`` code (code2session) for a session token bound to the user's openid."""
    try:
        client = miniprogram_client()
    except registry.DeliveryError as exc:
        raise HTTPException(503, str(exc)) from None
    try:
        answer = client.code2session(body.code)
    except WeChatAPIError as exc:
        if exc.errcode in (40029, 40163):
            raise HTTPException(401, "the login code is invalid or already used; call wx.login() again") from None
        if exc.errcode == 45011:
            raise HTTPException(429, "too many logins; try again in a minute") from None
        log.warning("code2session failed: %s", exc)
        raise HTTPException(502, "WeChat could not confirm the login; try again") from None
    except httpx.HTTPError as exc:
        log.warning("code2session unreachable: %s", exc)
        raise HTTPException(502, "WeChat could not be reached; try again") from None
    openid = str(answer.get("openid") or "")
    if not parse.OPENID.match(openid):
        raise HTTPException(502, "WeChat returned no openid")
    # The session key is not kept: nothing here decrypts the user's data.
    return LoginOut(token=issue_session(openid), expires_in=SESSION_TTL)


@router.post("/api/v1/miniprogram/chat", response_model=ChatOut, tags=["miniprogram"])
def miniprogram_chat(request: Request, body: MiniChatIn, openid: OpenId) -> ChatOut:
    """Send one message and get the bot's replies (a repeated message_id returns the same replies)."""
    result = service.receive(request.app.state.db, InboundMessage(
        channel=MINIPROGRAM, sender=openid, message_id=f"{openid}:{body.message_id}", text=body.text,
        locale=body.locale), in_band=True)
    return ChatOut(replies=[ReplyOut(text=r.text, quick_replies=r.quick_replies, seq=r.seq) for r in result.replies])


@router.get("/api/v1/miniprogram/chat/history", response_model=MiniHistoryOut, tags=["miniprogram"])
def miniprogram_history(request: Request, openid: OpenId, after: int = Query(0, ge=0)) -> MiniHistoryOut:
    """Return the conversation after a sequence number (messages from an agent arrive this way)."""
    db: Database = request.app.state.db
    with db.session() as session:
        conv = conversations.get_by_identity(session, channel=MINIPROGRAM, external_id=openid)
        if conv is None:
            return MiniHistoryOut(messages=[])
        return MiniHistoryOut(messages=[MiniMessageOut(
            seq=m.seq, direction=m.direction, author="agent" if m.author.startswith("agent:") else m.author, text=m.text,
            quick_replies=list(m.quick_replies or []), created_at=m.created_at.isoformat())
            for m in conversations.history(session, conv, after=after)])


def _petition_out(p: Petition, locale: str, *, detail: bool = False) -> PetitionOut | PetitionDetailOut:
    lang = conversations.normalise_locale(locale)
    unit = p.lead_unit
    fields = dict(tracking_no=p.tracking_no, title=p.title, status=p.status,
                  status_name=messages.status_name(p.status, lang), received_at=p.received_at.isoformat(),
                  due_at=p.due_at.isoformat() if p.due_at else None,
                  unit=((unit.name_en or unit.name) if lang == "en" else unit.name) if unit else None,
                  replies=[PetitionReplyOut(kind=r.kind, text=r.text, created_at=r.created_at.isoformat())
                           for r in p.replies])
    if not detail:
        return PetitionOut(**fields)
    return PetitionDetailOut(**fields, content=p.content, address=p.address, demand=p.demand,
                             supplements=[{"text": s.text, "attachments": len(s.attachments or []),
                                           "created_at": s.created_at.isoformat()} for s in p.supplements])


@router.get("/api/v1/miniprogram/petitions", response_model=PetitionsOut, tags=["miniprogram"])
def miniprogram_petitions(request: Request, openid: OpenId, locale: str = Query("zh-CN", max_length=10)) -> PetitionsOut:
    """List the petitions this mini-program user filed, newest first, with status, deadline and replies."""
    db: Database = request.app.state.db
    with db.session() as session:
        own = cases.list_by_source(session, cases.source_digest(MINIPROGRAM, openid), limit=50)
        return PetitionsOut(petitions=[_petition_out(p, locale) for p in own])


@router.get("/api/v1/miniprogram/petitions/{tracking_no}", response_model=PetitionDetailOut, tags=["miniprogram"])
def miniprogram_petition(request: Request, tracking_no: str, openid: OpenId,
                         locale: str = Query("zh-CN", max_length=10)) -> PetitionDetailOut:
    """Return one of this user's petitions in full."""
    if len(tracking_no) > 20:
        raise HTTPException(404, "no petition with this tracking number for this user")
    db: Database = request.app.state.db
    with db.session() as session:
        try:
            petition = cases.access_citizen(session, tracking_no, source=cases.source_digest(MINIPROGRAM, openid))
        except cases.NotFound:
            raise HTTPException(404, "no petition with this tracking number for this user") from None
        return _petition_out(petition, locale, detail=True)
