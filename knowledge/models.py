"""Tables of the knowledge base: its entries, and the answers the bot gave from them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cases.models import Unit
from core.db import Base, UTCDateTime, utcnow


class KnowledgeEntry(Base):
    """A question with its answer: a policy an admin wrote down, or an official reply to an earlier petition.

    Only published entries reach citizens; drafts (replies drawn in automatically, not yet checked by
    an admin) are suggested to staff only. An entry outside its validity is offered to nobody.
    """

    __tablename__ = "knowledge_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    # policy: written by an admin (a policy, a procedure); reply: drawn from a petition's official reply.
    kind: Mapped[str] = mapped_column(String(10), index=True)
    # draft → published → retired (an admin may publish a retired entry again).
    status: Mapped[str] = mapped_column(String(10), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Where the answer comes from, as the citizen is told: a policy's name and number, a web page, a reply.
    source: Mapped[str | None] = mapped_column(String(300))
    source_petition_id: Mapped[int | None] = mapped_column(ForeignKey("petitions.id", ondelete="SET NULL"), index=True)
    source_reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"), unique=True)
    # The date of the policy or of the reply.
    issued_on: Mapped[date | None] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    # Citizens' verdicts in the chat.
    offered: Mapped[int] = mapped_column(Integer, default=0)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful: Mapped[int] = mapped_column(Integer, default=0)
    # The dense embedding of question and answer (float32 bytes) and the embedder that made it.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    vector_model: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[str | None] = mapped_column(String(64))
    retire_reason: Mapped[str | None] = mapped_column(Text)

    unit: Mapped[Unit | None] = relationship()


class KnowledgeAnswer(Base):
    """One consultation the bot answered from the knowledge base, and whether it helped.

    ``conversation_id`` names the bot's conversation without a foreign key: the knowledge base sits
    below the dialogue engine and never reads its tables.
    """

    __tablename__ = "knowledge_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    entry_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    scores: Mapped[list[float]] = mapped_column(JSON, default=list)
    # None until the citizen says; False turns into a petition (petition_id once it is registered).
    helped: Mapped[bool | None] = mapped_column(Boolean)
    petition_id: Mapped[int | None] = mapped_column(ForeignKey("petitions.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Every petition gets its contact type as it is inserted, whichever channel or API registers it.
from knowledge import contact as _contact  # noqa: E402,F401
