"""Tables of the case domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.security import EncryptedText


class Area(Base):
    """An administrative area (city, district, street) by its code."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)


class Category(Base):
    """A node of the three-level category taxonomy."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)

    parent: Mapped[Category | None] = relationship(remote_side=[id])


class Unit(Base):
    """A responsible unit (city bureau, district government, street office) and its duty list."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(12))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    area_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class Petitioner(Base):
    """A citizen; name, phone and ID number are encrypted, with keyed hashes for exact lookup."""

    __tablename__ = "petitioners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(EncryptedText(400))
    phone: Mapped[str | None] = mapped_column(EncryptedText(200))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number: Mapped[str | None] = mapped_column(EncryptedText(200))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Statuses whose petition is still being handled (cases.enums.TERMINAL lists the others); the partial indexes
# below name them, so a query must use this same list for PostgreSQL to pick them.
OPEN_STATUSES = ("registered", "accepted", "assigned", "in_progress", "replied", "review_requested", "under_review",
                 "review_replied", "reexam_requested", "under_reexam")
WAITING_STATUSES = ("registered", "accepted")


def _status_in(statuses: tuple[str, ...]):
    return text("status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")")


class Petition(Base):
    """A petition (case) with its statutory deadlines."""

    __tablename__ = "petitions"
    __table_args__ = (
        Index("ix_petitions_status_due", "status", "due_at"),
        Index("ix_petitions_received_at", "received_at"),
        # Migration 0010 (a million petitions): the analyst's breakdowns read these without touching the table;
        # the workbench scans only open petitions, the overdue board and counts only overdue ones, and the triage
        # queue only those waiting for a unit.
        Index("ix_petitions_category_channel", "category_id", "channel"),
        Index("ix_petitions_received_channel_category", "received_at", "channel", "category_id"),
        Index("ix_petitions_area_category_channel", "area_code", "category_id", "channel"),
        Index("ix_petitions_open_unit_due", "lead_unit_id", "due_at", postgresql_where=_status_in(OPEN_STATUSES),
              sqlite_where=_status_in(OPEN_STATUSES)),
        Index("ix_petitions_overdue", "lead_unit_id", "due_at",
              postgresql_where=text(f"overdue_since IS NOT NULL AND {_status_in(OPEN_STATUSES).text}"),
              sqlite_where=text(f"overdue_since IS NOT NULL AND {_status_in(OPEN_STATUSES).text}")),
        Index("ix_petitions_waiting", "received_at",
              postgresql_where=text(f"{_status_in(WAITING_STATUSES).text} AND lead_unit_id IS NULL"),
              sqlite_where=text(f"{_status_in(WAITING_STATUSES).text} AND lead_unit_id IS NULL")),
        # Keyword search (ILIKE '%…%') on PostgreSQL with pg_trgm; SQLite has no such index.
        Index("ix_petitions_text_trgm", text("(title || ' ' || content) gin_trgm_ops"),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(20), unique=True)
    query_code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    contact_type: Mapped[str | None] = mapped_column(String(12), index=True)
    area_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    head_count: Mapped[int] = mapped_column(Integer, default=1)
    is_collective: Mapped[bool] = mapped_column(Boolean, default=False)
    demand: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[str | None] = mapped_column(String(40))
    previous_tracking_no: Mapped[str | None] = mapped_column(String(20))
    petitioner_id: Mapped[int | None] = mapped_column(ForeignKey("petitioners.id"), index=True)
    # Keyed hash of the channel identity that filed it (channel + sender), so that the same
    # WeChat user or phone can follow the petition without its query code.
    source_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    forwarded_to: Mapped[str | None] = mapped_column(String(200))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("petitions.id"))

    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline of the current stage (accept, handle, review, ...); None when nothing is due.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accept_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handle_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_days: Mapped[int | None] = mapped_column(Integer)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_approver: Mapped[str | None] = mapped_column(String(64))
    feedback_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_request_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reexam_request_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reexam_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    category: Mapped[Category | None] = relationship()
    area: Mapped[Area | None] = relationship()
    petitioner: Mapped[Petitioner | None] = relationship()
    lead_unit: Mapped[Unit | None] = relationship(foreign_keys=[lead_unit_id])
    assignments: Mapped[list[Assignment]] = relationship(back_populates="petition", order_by="Assignment.id")
    replies: Mapped[list[Reply]] = relationship(back_populates="petition", order_by="Reply.id")
    feedbacks: Mapped[list[Feedback]] = relationship(back_populates="petition", order_by="Feedback.id")
    supplements: Mapped[list[Supplement]] = relationship(back_populates="petition", order_by="Supplement.id")


class Assignment(Base):
    """A unit's part in a petition: the lead unit or an assisting one."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="assignments")
    unit: Mapped[Unit] = relationship()


class Reply(Base):
    """An official answer: the reply, a review opinion or a re-examination opinion."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="replies")
    unit: Mapped[Unit | None] = relationship()


class Supplement(Base):
    """Information or attachments a citizen added to an open petition."""

    __tablename__ = "supplements"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="supplements")


class Feedback(Base):
    """The citizen's verdict on a reply."""

    __tablename__ = "feedbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="feedbacks")


class AuditEvent(Base):
    """An append-only, hash-chained record of every change of state.

    Each row carries the MAC of the previous row; ``seq`` is gap-free, so an edited, deleted or
    inserted row breaks the chain that ``petition audit verify`` walks.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    petition_id: Mapped[int | None] = mapped_column(ForeignKey("petitions.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last link of the audit chain, so that deleting the newest rows is caught too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class TrackingCounter(Base):
    """The last tracking-number sequence issued per day."""

    __tablename__ = "tracking_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
