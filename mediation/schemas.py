"""Request and response shapes of mediation."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cases.schemas import TRACKING_NO
from mediation.enums import Kind, ParticipantRole


class ParticipantIn(BaseModel):
    """One invitee: staff by username, anyone else by name (and a phone for the invitation SMS)."""

    model_config = ConfigDict(extra="forbid")

    role: ParticipantRole
    username: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    organisation: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    # A party to the agreement (its confirmation is needed); None: by role (petitioner side, competent department).
    party: bool | None = None
    locale: str | None = Field(default=None, pattern=r"^(zh|en)$")

    @field_validator("username", "name", "organisation", "phone")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        v = (v or "").strip()
        return v or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        digits = re.sub(r"[\s\-()]", "", v)
        if not re.fullmatch(r"\+?\d{5,15}", digits):
            raise ValueError("phone must be 5 to 15 digits")
        return digits


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracking_no: str = Field(pattern=TRACKING_NO)
    kind: Kind
    starts_at: AwareDatetime
    duration_minutes: int = Field(default=60, ge=10, le=480)
    title: str | None = Field(default=None, max_length=200)
    # The staff member who runs the session; the one scheduling it by default.
    host: str | None = Field(default=None, max_length=64)
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def _someone(self) -> SessionCreate:
        if not self.participants:
            raise ValueError("name the participants (at least the petitioner)")
        return self


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: str = Field(min_length=1, max_length=20000)


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No agreement: the reason is required. Omit `no_agreement` to end the call and wait for confirmations.
    no_agreement: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class ParticipantOut(BaseModel):
    id: int
    role: str
    username: str | None
    name: str | None
    organisation: str | None
    is_host: bool
    party: bool
    invite_status: str
    invite_channel: str | None
    admitted: bool
    joined_at: datetime | None
    left_at: datetime | None
    removed: bool
    confirmed: bool
    # The invitation link; given only to those who may manage the session.
    join_url: str | None = None


class RecordingOut(BaseModel):
    id: int
    status: str
    size: int
    attachment_ids: list[int]
    transcript_status: str


class SessionOut(BaseModel):
    id: int
    tracking_no: str
    kind: str
    title: str
    status: str
    starts_at: datetime
    ends_at: datetime
    host: str
    provider: str
    started_at: datetime | None
    ended_at: datetime | None
    terms: str | None
    terms_version: int
    outcome: str | None
    outcome_reason: str | None
    case_action: str | None
    participants: list[ParticipantOut]
    recordings: list[RecordingOut] = Field(default_factory=list)


class ConfirmOut(BaseModel):
    confirmed: bool
    outcome: str | None
    waiting_for: list[str]
    case_action: str | None
