"""Request and response shapes of the case domain."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cases.enums import Action, Channel

TRACKING_NO = r"^XF-\d{8}-\d{6}$"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_is_valid(value: str) -> bool:
    """Check an 18-character resident ID number's format and GB 11643 check character."""
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


class PetitionerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    id_number: str | None = Field(default=None, max_length=18)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        digits = re.sub(r"[\s\-()]", "", v)
        if not re.fullmatch(r"\+?\d{5,15}", digits):
            raise ValueError("phone must be 5 to 15 digits")
        return digits

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not id_number_is_valid(v):
            raise ValueError("ID number must be 18 characters with a valid check character")
        return v.upper()


class PetitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    channel: Channel = Channel.API
    language: str = Field(default="zh", pattern=r"^(zh|en)$")
    category: str | None = Field(default=None, max_length=100, description="category code or name")
    area_code: str = Field(min_length=6, max_length=12, pattern=r"^\d{6,12}$")
    address: str | None = Field(default=None, max_length=300)
    head_count: int = Field(default=1, ge=1, le=100000)
    demand: str | None = Field(default=None, max_length=5000)
    occurred_on: str | None = Field(default=None, max_length=40)
    previous_tracking_no: str | None = Field(default=None, pattern=TRACKING_NO)
    petitioner: PetitionerIn | None = None
    received_at: AwareDatetime | None = None

    @field_validator("title", "content")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    reason: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(default=None, max_length=40, description="unit code (assign: the lead unit)")
    assisting: list[str] = Field(default_factory=list, max_length=20, description="assisting unit codes (assign)")
    text: str | None = Field(default=None, max_length=20000, description="reply text")
    days: int | None = Field(default=None, ge=1, le=366, description="extension length (extend)")
    target: str | None = Field(default=None, pattern=TRACKING_NO, description="the petition merged into (merge)")


class AreaOut(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None
    name_en: str | None = None


class UnitOut(BaseModel):
    code: str
    name: str
    name_en: str | None
    level: str
    parent: str | None
    area_codes: list[str]
    categories: list[str]
    description: str


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str | None
    level: int
    parent: str | None


class PetitionerOut(BaseModel):
    name: str | None
    phone: str | None
    id_number: str | None


class ReplyOut(BaseModel):
    kind: str
    unit: str | None
    text: str
    created_at: datetime


class FeedbackOut(BaseModel):
    satisfied: bool
    reason: str | None
    created_at: datetime


class AuditOut(BaseModel):
    seq: int
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    created_at: datetime


class PetitionOut(BaseModel):
    tracking_no: str
    status: str
    channel: str
    language: str
    title: str
    content: str
    category: CategoryOut | None
    area: AreaOut | None
    address: str | None
    head_count: int
    is_collective: bool
    demand: str | None
    occurred_on: str | None
    previous_tracking_no: str | None
    petitioner: PetitionerOut | None
    lead_unit: str | None
    assisting_units: list[str]
    forwarded_to: str | None
    merged_into: str | None
    received_at: datetime
    accepted_at: datetime | None
    replied_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None
    accept_due_at: datetime
    handle_due_at: datetime | None
    extension_days: int | None
    review_request_due_at: datetime | None
    overdue: bool
    allowed_actions: list[str]
    replies: list[ReplyOut]
    feedbacks: list[FeedbackOut]
    history: list[AuditOut] | None = None
    # Filled by the risk module (registered in cases.api.PETITION_EXTRAS); None before it has scored the petition.
    risk_level: str | None = None
    risk_reasons: list[dict] = Field(default_factory=list)


class PetitionCreated(BaseModel):
    tracking_no: str
    query_code: str = Field(description="shown once; the citizen needs it to look the petition up")
    status: str
    accept_due_at: datetime
    petition: PetitionOut


class PetitionPage(BaseModel):
    items: list[PetitionOut]
    total: int
    page: int
    page_size: int


class PublicPetitionOut(BaseModel):
    """What a citizen sees with the tracking number and query code: no personal data."""

    tracking_no: str
    status: str
    status_label: str
    status_label_en: str
    unit: str | None
    unit_en: str | None
    received_at: datetime
    due_at: datetime | None
    replies: list[ReplyOut]
