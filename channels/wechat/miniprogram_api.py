"""More of the mini-program API (``/api/v1/miniprogram``): voice, image and location in the chat, and a citizen's
own petition: its timeline, feedback on the reply, the review request and supplements.

Every route authenticates the mini-program session (``channels.wechat.api.current_openid``); the work is done by
``miniprogram_service`` (chat) and ``miniprogram_petitions`` (a user's own petitions, reached only through
``cases.service.access_citizen`` with the user's source digest).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile

from channels.wechat import miniprogram_petitions as petitions
from channels.wechat import miniprogram_service as mini
from channels.wechat.api import OpenId, refusals
from channels.wechat.schemas import ID_PATTERN, FeedbackIn, LocationIn, MediaChatOut, ProgressOut, ReviewIn, SupplementIn
from core.db import Database

router = APIRouter(prefix="/api/v1/miniprogram", tags=["miniprogram"])


def _db(request: Request) -> Database:
    return request.app.state.db


@router.post("/chat/media", response_model=MediaChatOut)
def chat_media(request: Request, openid: OpenId, file: Annotated[UploadFile, File(description="wx.uploadFile's file")],
               kind: Annotated[str, Form(pattern=r"^(voice|image)$")],
               message_id: Annotated[str, Form(pattern=ID_PATTERN)],
               locale: Annotated[str, Form(max_length=10)] = "zh-CN") -> MediaChatOut:
    """Send a voice recording (transcribed by our speech engine) or a photo as one chat message."""
    with refusals():
        return mini.do_media_message(_db(request), openid=openid, kind=kind, message_id=message_id, locale=locale,
                                     upload=file.file)


@router.post("/chat/location", response_model=MediaChatOut)
def chat_location(request: Request, body: LocationIn, openid: OpenId) -> MediaChatOut:
    """Send a place chosen on the map as one chat message (it fills the address, as on the official account)."""
    with refusals():
        return mini.do_location(_db(request), openid=openid, place=body)


@router.get("/petitions/{tracking_no}/timeline", response_model=ProgressOut)
def petition_timeline(request: Request, tracking_no: str, openid: OpenId,
                      locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Return the events of this user's petition that a citizen may see, and what they may do now."""
    with refusals():
        return petitions.get_progress(_db(request), openid=openid, tracking_no=tracking_no, locale=locale)


@router.post("/petitions/{tracking_no}/feedback", response_model=ProgressOut)
def petition_feedback(request: Request, tracking_no: str, body: FeedbackIn, openid: OpenId,
                      locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Judge the reply: satisfied closes the petition; not satisfied needs a reason (then a review may be asked)."""
    with refusals():
        return petitions.do_feedback(_db(request), openid=openid, tracking_no=tracking_no, satisfied=body.satisfied,
                                     reason=body.reason, locale=locale)


@router.post("/petitions/{tracking_no}/review", response_model=ProgressOut)
def petition_review(request: Request, tracking_no: str, body: ReviewIn, openid: OpenId,
                    locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Ask for a review (复查) of the reply, inside the window the reply opened."""
    if not body.reason.strip():
        raise HTTPException(422, "say why you ask for a review")
    with refusals():
        return petitions.do_review(_db(request), openid=openid, tracking_no=tracking_no, reason=body.reason,
                                   locale=locale)


@router.post("/petitions/{tracking_no}/supplements", response_model=ProgressOut)
def petition_supplement(request: Request, tracking_no: str, body: SupplementIn, openid: OpenId,
                        locale: str = Query("zh-CN", max_length=10)) -> ProgressOut:
    """Add information to an open petition."""
    if not body.text.strip():
        raise HTTPException(422, "nothing to add")
    with refusals():
        return petitions.do_supplement(_db(request), openid=openid, tracking_no=tracking_no, text=body.text,
                                       locale=locale)


@router.post("/petitions/{tracking_no}/supplements/image", response_model=ProgressOut)
def petition_supplement_image(request: Request, tracking_no: str, openid: OpenId,
                              file: Annotated[UploadFile, File(description="wx.uploadFile's file")],
                              text: Annotated[str, Form(max_length=5000)] = "",
                              locale: Annotated[str, Form(max_length=10)] = "zh-CN") -> ProgressOut:
    """Attach a photo (with optional words) to an open petition."""
    with refusals():
        return petitions.do_supplement_image(_db(request), openid=openid, tracking_no=tracking_no, upload=file.file,
                                             text=text, locale=locale)
