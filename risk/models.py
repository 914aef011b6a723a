"""Risk tables: the sensitive-keyword lexicon and each petition's risk assessment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class SensitiveTerm(Base):
    """A term of the sensitive-keyword lexicon with its class and weight; edited by admins."""

    __tablename__ = "sensitive_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(100), unique=True)
    # extreme | self_harm | violence | collective | escalation | media | wages | demolition | other
    klass: Mapped[str] = mapped_column(String(20))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PetitionRisk(Base):
    """A petition's current risk score and level (red / orange / yellow / blue) with its reasons."""

    __tablename__ = "petition_risks"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), unique=True)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(10), index=True)
    # [{"kind": "lexicon", "text_zh": ..., "text_en": ..., "weight": ...}]
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    # [{"term": ..., "klass": ..., "start": ..., "end": ..., "field": "title" | "content"}]
    hits: Mapped[list] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
