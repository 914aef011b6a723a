"""What the mini-program API (``/api/v1/miniprogram``) takes and answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from channels.webchat.api import MessageOut, ReplyOut

ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"


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


# The web chat's message under the mini-program's own name in the OpenAPI document (a docstring would add to it).
class MiniMessageOut(MessageOut):
    pass


class MiniHistoryOut(BaseModel):
    messages: list[MiniMessageOut]


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
