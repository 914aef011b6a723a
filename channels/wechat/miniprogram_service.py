"""The mini-program's user and chat: login through ``code2session``, signed session tokens, and chat turns in
text, voice (transcribed by our own speech engine), photos and places, over the same inbox as every channel.

A session token is the user's openid and an expiry, signed with the app's secret key; nothing is stored for
it. An upload is checked by its bytes, not its name, and stored under a fresh name; a retried upload is
answered from the stored turn, so a recording is never transcribed twice.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import BinaryIO

import httpx
from sqlalchemy import select

from bot import service as conversations
from channels import registry
from channels import service as inbox
from channels.models import InboxMessage
from channels.service import InboundMessage, Result
from channels.webchat.api import ChatOut, ReplyOut
from channels.wechat import media as files
from channels.wechat import parse
from channels.wechat.adapter import MINIPROGRAM, miniprogram_client
from channels.wechat.client import WeChatAPIError
from channels.wechat.schemas import LocationIn, MediaChatOut, MiniHistoryOut, MiniMessageOut
from core.db import Database
from core.security import Signer
from core.settings import get_settings

log = logging.getLogger(__name__)

SESSION_TTL = 7 * 24 * 3600
# A minute of speech in the recorder's mp3 is ~360 KB; a compressed photo stays well under this.
MAX_MEDIA_BYTES = 950_000


class Refused(Exception):
    """A mini-program request refused; ``status`` is the HTTP status an API maps it to."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


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


def do_login(code: str) -> str:
    """Exchange a ``wx.login`` code for the user's openid (code2session); Refused when WeChat does not confirm it."""
    try:
        client = miniprogram_client()
    except registry.DeliveryError as exc:
        raise Refused(503, str(exc)) from None
    try:
        answer = client.code2session(code)
    except WeChatAPIError as exc:
        if exc.errcode in (40029, 40163):
            raise Refused(401, "the login code is invalid or already used; call wx.login() again") from None
        if exc.errcode == 45011:
            raise Refused(429, "too many logins; try again in a minute") from None
        log.warning("code2session failed: %s", exc)
        raise Refused(502, "WeChat could not confirm the login; try again") from None
    except httpx.HTTPError as exc:
        log.warning("code2session unreachable: %s", exc)
        raise Refused(502, "WeChat could not be reached; try again") from None
    openid = str(answer.get("openid") or "")
    if not parse.OPENID.match(openid):
        raise Refused(502, "WeChat returned no openid")
    # The session key is not kept: nothing here decrypts the user's data.
    return openid


def _replies(result: Result) -> list[ReplyOut]:
    return [ReplyOut(text=r.text, quick_replies=r.quick_replies, seq=r.seq) for r in result.replies]


def do_chat(db: Database, *, openid: str, message_id: str, text: str, locale: str) -> ChatOut:
    """Run one text message through the bot and return its replies (a repeated message_id returns the same)."""
    return ChatOut(replies=_replies(inbox.receive(db, InboundMessage(
        channel=MINIPROGRAM, sender=openid, message_id=f"{openid}:{message_id}", text=text, locale=locale),
        in_band=True)))


def list_messages(db: Database, *, openid: str, after: int) -> MiniHistoryOut:
    """Return the user's conversation after a sequence number (messages from an agent arrive this way)."""
    with db.session() as session:
        conv = conversations.get_by_identity(session, channel=MINIPROGRAM, external_id=openid)
        if conv is None:
            return MiniHistoryOut(messages=[])
        return MiniHistoryOut(messages=[MiniMessageOut(
            seq=m.seq, direction=m.direction, author="agent" if m.author.startswith("agent:") else m.author, text=m.text,
            quick_replies=list(m.quick_replies or []), created_at=m.created_at.isoformat())
            for m in conversations.history(session, conv, after=after)])


def _turn(db: Database, inbound: InboundMessage) -> list[ReplyOut]:
    try:
        return _replies(inbox.receive(db, inbound, in_band=True))
    except inbox.ForeignMessage:
        raise Refused(409, "this message id belongs to another user") from None


def _stored(db: Database, message_id: str) -> InboxMessage | None:
    with db.session() as session:
        row = session.scalar(select(InboxMessage).where(InboxMessage.channel == MINIPROGRAM,
                                                        InboxMessage.platform_msg_id == message_id))
        if row is not None:
            session.expunge(row)
        return row


def keep_upload(upload: BinaryIO, kind: str) -> dict:
    """Check an uploaded image or recording by its bytes and store it; return its media entry."""
    data = upload.read(MAX_MEDIA_BYTES + 1)
    if len(data) > MAX_MEDIA_BYTES:
        raise Refused(413, f"the file is over {MAX_MEDIA_BYTES} bytes; record less or send a smaller photo")
    if not data:
        raise Refused(422, "the file is empty")
    suffix = files.sniff(data, kind)
    if suffix is None:
        wanted = "a JPEG, PNG, GIF or WebP image" if kind == "image" else "an mp3, aac, m4a or wav recording"
        raise Refused(415, f"the file is not {wanted}")
    path = files.store(data, source="miniprogram", kind=kind, suffix=suffix, what=f"mini-program {kind}")
    if path is None:
        raise Refused(503, "the file could not be stored; try again")
    return {"type": kind, "path": path, "bytes": len(data), "format": suffix[1:]}


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
        raise Refused(422, f"录音长 {declared:.0f} 秒，超过 {limit} 秒的上限，请分段录制或直接输入文字。"
                           f"The recording is {declared:.0f} s long; the limit is {limit} s: record shorter parts "
                           "or type it.")


def _transcribe(path: str) -> str | None:
    """Return what a recording says; Refused (422) when it cannot be used, None when no engine is available."""
    from channels.phone import transcriber as speech

    _check_duration(path)
    try:
        return files.transcribe(path, no_engine="mini-program voice message, and no transcriber installed")
    except speech.TranscriptionError as exc:
        Path(path).unlink(missing_ok=True)
        raise Refused(422, f"the recording cannot be used: {exc}") from None


def do_media_message(db: Database, *, openid: str, kind: str, message_id: str, locale: str,
                     upload: BinaryIO) -> MediaChatOut:
    """Run a voice recording (transcribed by our speech engine) or a photo through the bot as one chat message."""
    scoped = f"{openid}:{message_id}"
    previous = _stored(db, scoped)
    if previous is not None:
        # A retry of an upload that reached us: answer from the stored turn, never transcribe twice.
        if previous.sender != openid:
            raise Refused(409, "this message id belongs to another user")
        replies = _turn(db, InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=scoped, locale=locale))
        return MediaChatOut(transcript=previous.text if kind == "voice" else None, replies=replies)
    media = keep_upload(upload, kind)
    text = ""
    if kind == "voice":
        text = _transcribe(media["path"]) or ""
        if not text:
            # Nothing heard: asking again is kinder than a turn the bot cannot use (and nothing is stored).
            Path(media["path"]).unlink(missing_ok=True)
            raise Refused(422, "no speech could be made out in the recording; say it again or type it")
        media["source"] = "transcriber"
    replies = _turn(db, InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=scoped, text=text,
                                       locale=locale, media=media))
    return MediaChatOut(transcript=text or None, replies=replies)


def do_location(db: Database, *, openid: str, place: LocationIn) -> MediaChatOut:
    """Run a place chosen on the map through the bot as one chat message (it fills the address)."""
    label = " ".join(p for p in (place.address.strip(), place.name.strip()) if p)
    where = label or f"{place.latitude:.6f},{place.longitude:.6f}"
    text = f"My location: {where}" if conversations.normalise_locale(place.locale) == "en" else f"我的位置：{where}"
    media = {"type": "location", "lat": place.latitude, "lng": place.longitude, "label": label or None}
    replies = _turn(db, InboundMessage(channel=MINIPROGRAM, sender=openid, message_id=f"{openid}:{place.message_id}",
                                       text=text, locale=place.locale, media=media))
    return MediaChatOut(transcript=None, replies=replies)
