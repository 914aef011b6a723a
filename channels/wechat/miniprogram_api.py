"""More of the mini-program API (``/api/v1/miniprogram``): voice, image and location in the chat, and a citizen's
own petition: its timeline, feedback on the reply, the review request and supplements.

Every route authenticates the mini-program session (``channels.wechat.api.current_openid``) and reaches a petition
only through ``cases.service.access_citizen`` with the user's source digest, so a user sees and acts on their own
petitions alone. Citizen acts go through the same domain services the bot uses (``do_feedback``, ``do_supplement``,
``do_transition(REQUEST_REVIEW)``), recorded on the citizen's behalf like the bot's.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import messages
from bot import service as conversations
from cases import catalog
from cases import service as cases
from cases.enums import TERMINAL, Action, Status
from cases.models import AuditEvent, Petition
from cases.schemas import TransitionIn
from channels import service
from channels.models import InboxMessage
from channels.service import InboundMessage
from channels.webchat.api import ReplyOut
from channels.wechat.adapter import MINIPROGRAM
from channels.wechat.api import ID_PATTERN, OpenId, media_root
from core.accounts import Actor, Role
from core.db import Database, utcnow
from core.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/miniprogram", tags=["miniprogram"])

# Acts a citizen does themselves are recorded on their behalf, as the bot records them.
CITIZEN = Actor("citizen:miniprogram", Role.AGENT)
# A minute of speech in the recorder's mp3 is ~360 KB; a compressed photo stays well under this.
MAX_MEDIA_BYTES = 950_000
MEDIA_KINDS = ("voice", "image")
# The audit actions a citizen may see on their own petition; internal ones (notes, supervision, objections,
# category corrections, overdue marks) stay with the staff.
VISIBLE = frozenset({"register", "dispatch", "accept", "not_accept", "forward", "assign", "start", "reply", "extend",
                     "close", "request_review", "start_review", "reply_review", "request_reexam", "start_reexam",
                     "reply_reexam", "withdraw", "merge", "supplement", "feedback"})
# Reasons worth showing: a refusal must be explained to the citizen; the others are the citizen's own words.
REASON_SHOWN = frozenset({"not_accept", "feedback", "request_review", "request_reexam"})
NOT_FOUND = "no petition with this tracking number for this user"


def _db(request: Request) -> Database:
    return request.app.state.db


def _lang(locale: str) -> str:
    return conversations.normalise_locale(locale)


# Chat: voice, image, location ----------------------------------------------------------------------------

class MediaChatOut(BaseModel):
    transcript: str | None = Field(description="what the voice message was heard to say (voice only)")
    replies: list[ReplyOut]


class LocationIn(BaseModel):
    message_id: str = Field(pattern=ID_PATTERN, description="unique per message; a repeat returns the same replies")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str = Field(default="", max_length=100, description="the place's name from wx.chooseLocation")
    address: str = Field(default="", max_length=300, description="the place's address from wx.chooseLocation")
    locale: str = Field(default="zh-CN", max_length=10)


def sniff(data: bytes, kind: str) -> str | None:
    """Return the file extension the bytes really are, for an image or a voice recording; None if neither."""
    head = data[:16]
    if kind == "image":
        if head.startswith(b"\xff\xd8\xff"):
            return ".jpg"
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return ".png"
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return ".gif"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return ".webp"
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return ".wav"
    if head[4:8] == b"ftyp":
        return ".m4a"
    if head.startswith(b"ID3"):
        return ".mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Frame sync: layer bits 00 mean AAC in ADTS (the recorder's "aac"), anything else is MPEG audio.
        return ".aac" if head[1] & 0x06 == 0 else ".mp3"
    return None


def _read_upload(file: UploadFile, kind: str) -> tuple[bytes, str]:
    data = file.file.read(MAX_MEDIA_BYTES + 1)
    if len(data) > MAX_MEDIA_BYTES:
        raise HTTPException(413, f"the file is over {MAX_MEDIA_BYTES} bytes; record less or send a smaller photo")
    if not data:
        raise HTTPException(422, "the file is empty")
    suffix = sniff(data, kind)
    if suffix is None:
        wanted = "a JPEG, PNG, GIF or WebP image" if kind == "image" else "an mp3, aac, m4a or wav recording"
        raise HTTPException(415, f"the file is not {wanted}")
    return data, suffix


def _store_media(data: bytes, suffix: str, kind: str) -> str:
    folder = media_root() / "miniprogram" / kind / utcnow().strftime("%Y%m")
    path = folder / f"{uuid.uuid4().hex}{suffix}"  # never a name the client chose
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        log.error("mini-program %s could not be stored in %s: %s", kind, folder, exc)
        raise HTTPException(503, "the file could not be stored; try again") from None
    return str(path)


def _check_duration(path: str) -> None:
    """Refuse a recording whose header says it is over max_recording_seconds, before any decoding or transcription."""
    from channels.phone import transcriber as speech

    limit = get_settings().max_recording_seconds
    try:
        declared = speech.probe_duration(path)
    except (ImportError, speech.TranscriptionError):
        return  # no PyAV, or a header it cannot read: the transcriber decides (and measures what it decodes)
    if declared is not None and declared > limit + 0.5:
        Path(path).unlink(missing_ok=True)
        raise HTTPException(422, f"录音长 {declared:.0f} 秒，超过 {limit} 秒的上限，请分段录制或直接输入文字。"
                                 f"The recording is {declared:.0f} s long; the limit is {limit} s: record shorter parts "
                                 "or type it.")


def _transcribe(path: str) -> str | None:
    """Return what a recording says; 422 when it cannot be used, None when no engine is available."""
    from channels.phone import transcriber as speech

    _check_duration(path)
    try:
        result = speech.get_transcriber().transcribe(path)
    except speech.TranscriptionError as exc:
        Path(path).unlink(missing_ok=True)
        raise HTTPException(422, f"the recording cannot be used: {exc}") from None
    except ImportError:
        log.warning("mini-program voice message, and no transcriber installed")
        return None
    except Exception:
        log.exception("transcribing %s failed", path)
        return None
    return (getattr(result, "text", "") or "").strip() or None


def _stored(db: Database, message_id: str) -> InboxMessage | None:
    with db.session() as session:
        row = session.scalar(select(InboxMessage).where(InboxMessage.channel == MINIPROGRAM,
                                                        InboxMessage.platform_msg_id == message_id))
        if row is not None:
            session.expunge(row)
        return row


def _turn(db: Database, inbound: InboundMessage) -> list[ReplyOut]:
    try:
        result = service.receive(db, inbound, in_band=True)
    except service.ForeignMessage:
        raise HTTPException(409, "this message id belongs to another user") from None
    return [ReplyOut(text=r.text, quick_replies=r.quick_replies, seq=r.seq) for r in result.replies]


@router.post("/chat/media", response_model=MediaChatOut)
def chat_media(request: Request, openid: OpenId, file: Annotated[UploadFile, File(description="wx.uploadFile's file")],
               kind: Annotated[str, Form(pattern=r"^(voice|image)$")],
               message_id: Annotated[str, Form(pattern=ID_PATTERN)],
               locale: Annotated[str, Form(max_length=10)] = "zh-CN") -> MediaChatOut:
    """Send a voice recording (transcribed by our speech engine) or a photo as one chat message."""
    db = _db(request)
    scoped = f"{openid}:{message_id}"
    previous = _stored(db, scoped)
    if previous is not None:
        # A retry of an upload that reached us: answer from the stored turn, never transcribe twice.
        if previous.sender != openid:
            raise HTTPException(409, "this message id belongs to another user")
        replies = _turn(db, InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=scoped, locale=locale))
        return MediaChatOut(transcript=previous.text if kind == "voice" else None, replies=replies)
    data, suffix = _read_upload(file, kind)
    path = _store_media(data, suffix, kind)
    media: dict = {"type": kind, "path": path, "bytes": len(data), "format": suffix[1:]}
    text = ""
    if kind == "voice":
        text = _transcribe(path) or ""
        if not text:
            # Nothing heard: asking again is kinder than a turn the bot cannot use (and nothing is stored).
            Path(path).unlink(missing_ok=True)
            raise HTTPException(422, "no speech could be made out in the recording; say it again or type it")
        media["source"] = "transcriber"
    replies = _turn(db, InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=scoped, text=text,
                                       locale=locale, media=media))
    return MediaChatOut(transcript=text or None, replies=replies)


@router.post("/chat/location", response_model=MediaChatOut)
def chat_location(request: Request, body: LocationIn, openid: OpenId) -> MediaChatOut:
    """Send a place chosen on the map as one chat message (it fills the address, as on the official account)."""
    label = " ".join(p for p in (body.address.strip(), body.name.strip()) if p)
    where = label or f"{body.latitude:.6f},{body.longitude:.6f}"
    text = f"My location: {where}" if _lang(body.locale) == "en" else f"我的位置：{where}"
    media = {"type": "location", "lat": body.latitude, "lng": body.longitude, "label": label or None}
    replies = _turn(_db(request), InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=f"{openid}:{body.message_id}",
                                                 text=text, locale=body.locale, media=media))
    return MediaChatOut(transcript=None, replies=replies)


# A citizen's own petition: timeline, feedback, review, supplements ----------------------------------------------

class TimelineEventOut(BaseModel):
    action: str
    status: str | None = Field(description="the status after the event")
    at: str
    unit: str | None = None
    due_at: str | None = Field(default=None, description="a deadline the event set")
    reason: str | None = None
    satisfied: bool | None = None
    into: str | None = None


class ProgressOut(BaseModel):
    tracking_no: str
    status: str
    status_name: str
    due_at: str | None
    events: list[TimelineEventOut]
    can_feedback: bool
    feedback_due_at: str | None
    can_request_review: bool
    review_request_due_at: str | None
    can_supplement: bool


class FeedbackIn(BaseModel):
    satisfied: bool
    reason: str | None = Field(default=None, max_length=2000, description="required when not satisfied")


class ReviewIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class SupplementIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _own(session: Session, tracking_no: str, openid: str) -> Petition:
    if len(tracking_no) > 20:
        raise HTTPException(404, NOT_FOUND)
    try:
        return cases.access_citizen(session, tracking_no, source=cases.source_digest(MINIPROGRAM, openid))
    except cases.NotFound:
        raise HTTPException(404, NOT_FOUND) from None


def _case_error(exc: cases.CaseError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _unit_name(session: Session, code: str | None, lang: str) -> str | None:
    if not code:
        return None
    unit = catalog.get_unit_by_code(session, str(code))
    if unit is None:
        return None
    return (unit.name_en or unit.name) if lang == "en" else unit.name


def _event(session: Session, e: AuditEvent, lang: str) -> TimelineEventOut:
    data = e.data or {}
    out = TimelineEventOut(action=e.action, status=e.to_status, at=e.created_at.isoformat())
    if e.action == "assign":
        out.unit = _unit_name(session, data.get("lead"), lang)
    elif e.action == "dispatch":
        out.unit = _unit_name(session, data.get("unit"), lang)
    elif e.action == "forward":
        # Forwarded to one of our units (a code) or to an outside authority (its name, as the staff wrote it).
        out.unit = _unit_name(session, data.get("to"), lang) or data.get("to")
    elif e.action == "accept":
        out.due_at = data.get("handle_due_at")
    elif e.action == "extend":
        out.due_at = data.get("handle_due_at")
    elif e.action == "request_review":
        out.due_at = data.get("review_due_at")
    elif e.action == "request_reexam":
        out.due_at = data.get("reexam_due_at")
    elif e.action == "feedback":
        out.satisfied = bool(data.get("satisfied"))
    elif e.action == "merge":
        out.into = data.get("into")
    if e.action in REASON_SHOWN:
        out.reason = e.reason
    return out


def _feedback_given(p: Petition) -> bool:
    """Tell whether the citizen already judged the latest reply."""
    if not p.feedbacks or not p.replies:
        return False
    return p.feedbacks[-1].created_at >= p.replies[-1].created_at


def progress(session: Session, p: Petition, locale: str) -> ProgressOut:
    """Describe a petition for its citizen: the visible timeline and what they may do now."""
    lang, now = _lang(locale), utcnow()
    events = session.scalars(select(AuditEvent).where(AuditEvent.petition_id == p.id, AuditEvent.action.in_(VISIBLE))
                             .order_by(AuditEvent.seq))
    status = Status(p.status)
    review_open = status is Status.REPLIED and p.review_request_due_at is not None and now <= p.review_request_due_at
    return ProgressOut(
        tracking_no=p.tracking_no, status=p.status, status_name=messages.status_name(p.status, lang), due_at=_iso(p.due_at),
        events=[_event(session, e, lang) for e in events],
        can_feedback=status in (Status.REPLIED, Status.REVIEW_REPLIED, Status.FINAL) and not _feedback_given(p),
        feedback_due_at=_iso(p.feedback_due_at) if status in (Status.REPLIED, Status.REVIEW_REPLIED) else None,
        can_request_review=review_open, review_request_due_at=_iso(p.review_request_due_at) if review_open else None,
        can_supplement=status not in TERMINAL)


@router.get("/petitions/{tracking_no}/timeline", response_model=ProgressOut)
def petition_timeline(request: Request, tracking_no: str, openid: OpenId,
                      locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Return the events of this user's petition that a citizen may see, and what they may do now."""
    with _db(request).session() as session:
        return progress(session, _own(session, tracking_no, openid), locale)


@router.post("/petitions/{tracking_no}/feedback", response_model=ProgressOut)
def petition_feedback(request: Request, tracking_no: str, body: FeedbackIn, openid: OpenId,
                      locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Judge the reply: satisfied closes the petition; not satisfied needs a reason (then a review may be asked)."""
    with _db(request).transaction() as session:
        petition = _own(session, tracking_no, openid)
        if _feedback_given(petition):
            raise HTTPException(409, "feedback on this reply has already been given")
        try:
            cases.do_feedback(session, tracking_no=petition.tracking_no, satisfied=body.satisfied,
                              reason=(body.reason or "").strip() or None, actor=CITIZEN)
        except cases.CaseError as exc:
            raise _case_error(exc) from None
        session.refresh(petition)
        return progress(session, petition, locale)


@router.post("/petitions/{tracking_no}/review", response_model=ProgressOut)
def petition_review(request: Request, tracking_no: str, body: ReviewIn, openid: OpenId,
                    locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Ask for a review (复查) of the reply, inside the window the reply opened."""
    if not body.reason.strip():
        raise HTTPException(422, "say why you ask for a review")
    with _db(request).transaction() as session:
        petition = _own(session, tracking_no, openid)
        try:
            cases.do_transition(session, tracking_no=petition.tracking_no, actor=CITIZEN,
                                change=TransitionIn(action=Action.REQUEST_REVIEW, reason=body.reason.strip()))
        except cases.CaseError as exc:
            raise _case_error(exc) from None
        return progress(session, petition, locale)


@router.post("/petitions/{tracking_no}/supplements", response_model=ProgressOut)
def petition_supplement(request: Request, tracking_no: str, body: SupplementIn, openid: OpenId,
                        locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Add information to an open petition."""
    if not body.text.strip():
        raise HTTPException(422, "nothing to add")
    with _db(request).transaction() as session:
        petition = _own(session, tracking_no, openid)
        try:
            cases.do_supplement(session, tracking_no=petition.tracking_no, text=body.text, channel=MINIPROGRAM,
                                actor=CITIZEN)
        except cases.CaseError as exc:
            raise _case_error(exc) from None
        return progress(session, petition, locale)


@router.post("/petitions/{tracking_no}/supplements/image", response_model=ProgressOut)
def petition_supplement_image(request: Request, tracking_no: str, openid: OpenId,
                              file: Annotated[UploadFile, File(description="wx.uploadFile's file")],
                              text: Annotated[str, Form(max_length=5000)] = "",
                              locale: Annotated[str, Form(max_length=10)] = "zh-CN") -> ProgressOut:
    """Attach a photo (with optional words) to an open petition."""
    db = _db(request)
    with db.session() as session:
        _own(session, tracking_no, openid)  # before storing a byte of a stranger's upload
    data, suffix = _read_upload(file, "image")
    path = _store_media(data, suffix, "image")
    attachment = {"type": "image", "path": path, "bytes": len(data), "format": suffix[1:]}
    try:
        with db.transaction() as session:
            petition = _own(session, tracking_no, openid)
            cases.do_supplement(session, tracking_no=petition.tracking_no, text=text, channel=MINIPROGRAM,
                                actor=CITIZEN, attachments=[attachment])
            return progress(session, petition, locale)
    except cases.CaseError as exc:
        Path(path).unlink(missing_ok=True)
        raise _case_error(exc) from None
