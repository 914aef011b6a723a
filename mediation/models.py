"""Tables of mediation: sessions, their participants, and recordings uploaded in chunks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.security import EncryptedText


class MediationSession(Base):
    """A video reception or joint mediation for one petition, with its schedule, agreement and outcome."""

    __tablename__ = "mediation_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    # scheduled → live (the host opened the room) → ended; or cancelled before it happened.
    status: Mapped[str] = mapped_column(String(12), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The staff member who admits, mutes and removes participants and writes the agreement.
    host: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider: Mapped[str] = mapped_column(String(12), default="mesh")
    # A random room name (the SFU's room; never guessable from the id).
    room: Mapped[str] = mapped_column(String(40), unique=True)
    # The mediation agreement (调解协议) as the mediator wrote it; a new version needs new confirmations.
    terms: Mapped[str | None] = mapped_column(Text)
    terms_version: Mapped[int] = mapped_column(Integer, default=0)
    terms_by: Mapped[str | None] = mapped_column(String(64))
    terms_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(14))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The status-machine action the agreement took on the case (reply, close, ...), if any.
    case_action: Mapped[str | None] = mapped_column(String(40))

    participants: Mapped[list[MediationParticipant]] = relationship(
        back_populates="session", order_by="MediationParticipant.id", cascade="all, delete-orphan")


class MediationParticipant(Base):
    """Someone invited to a session by role: staff (by username) or a citizen or outside mediator (by name)."""

    __tablename__ = "mediation_participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(EncryptedText(400))
    organisation: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(EncryptedText(200))
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    is_host: Mapped[bool] = mapped_column(Boolean, default=False)
    # A party to the agreement: its confirmation is needed before the case moves on.
    party: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of every invitation token: a new nonce revokes the links issued before.
    nonce: Mapped[str] = mapped_column(String(32))
    invite_status: Mapped[str] = mapped_column(String(10), default="pending")
    invite_channel: Mapped[str | None] = mapped_column(String(20))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_version: Mapped[int | None] = mapped_column(Integer)

    session: Mapped[MediationSession] = relationship(back_populates="participants")


class MediationRecording(Base):
    """A recording made in the host's browser after everyone present consented; attached to the case when done."""

    __tablename__ = "mediation_recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("mediation_sessions.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), index=True)
    # participant id (as a string) -> {"agree": bool, "at": iso time}
    consents: Mapped[dict] = mapped_column(JSON, default=dict)
    mime: Mapped[str | None] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer, default=0)
    attachment_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    transcript: Mapped[str | None] = mapped_column(Text)
    # none | pending | done | empty | failed | unavailable
    transcript_status: Mapped[str] = mapped_column(String(12), default="none")
    error: Mapped[str | None] = mapped_column(Text)


class MediationRecordingChunk(Base):
    """One piece of a recording as the browser uploaded it (a few seconds of WebM); removed once attached."""

    __tablename__ = "mediation_recording_chunks"
    __table_args__ = (UniqueConstraint("recording_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("mediation_recordings.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
