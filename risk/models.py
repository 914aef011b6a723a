"""Risk tables: the sensitive-keyword lexicon and each petition's risk assessment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, Text
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


class RiskAlert(Base):
    """A warning for supervisors: a red petition, a growing collective group, a surge or an unusual cluster.

    ``key`` identifies what is warned about (one alert per group or per surge day), so that detecting it
    again updates the alert (a group grows) instead of repeating it.
    """

    __tablename__ = "risk_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # red_petition | collective | surge | cluster | key_person
    kind: Mapped[str] = mapped_column(String(20), index=True)
    level: Mapped[str] = mapped_column(String(10), index=True)
    # open | acknowledged | resolved
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    area_code: Mapped[str | None] = mapped_column(String(12), index=True)
    category: Mapped[str | None] = mapped_column(String(200))
    # {"petition_ids": [...], "figures": {...}}: what the alert rests on
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
