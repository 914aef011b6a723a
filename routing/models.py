"""Routing tables: admin rules, each petition's routing decision, links to similar cases, category corrections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class RoutingRule(Base):
    """An admin rule: a keyword, category or area that points to a unit."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # keyword: a phrase in the title or content; category: a category name or path; area: an area code prefix.
    kind: Mapped[str] = mapped_column(String(10))
    pattern: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    weight: Mapped[float] = mapped_column(Float, default=0.6)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoutingDecision(Base):
    """What the router concluded for a petition, with its reasons; recomputed on demand."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), unique=True)
    category: Mapped[str | None] = mapped_column(String(200))
    category_confidence: Mapped[float | None] = mapped_column(Float)
    category_source: Mapped[str | None] = mapped_column(String(40))  # model | zero-shot | citizen | staff
    category_top3: Mapped[list] = mapped_column(JSON, default=list)
    # [{"unit": code, "name": ..., "score": 0..1, "reasons": [{"kind", "text_zh", "text_en", "weight"}]}]
    suggestions: Mapped[list] = mapped_column(JSON, default=list)
    auto_assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("petitions.id"))
    embedder: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimilarLink(Base):
    """A petition's link to a similar earlier one."""

    __tablename__ = "similar_links"
    __table_args__ = (UniqueConstraint("petition_id", "similar_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    similar_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    # similar: a prior case worth reading; repeat: the same petitioner on the same issue;
    # group: another petitioner on the same issue in the same area (a collective-petition candidate).
    kind: Mapped[str] = mapped_column(String(10))
    rank: Mapped[int] = mapped_column(Integer, default=0)


class CategoryCorrection(Base):
    """A staff member's correction of a petition's category, kept as training data."""

    __tablename__ = "category_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    from_category: Mapped[str | None] = mapped_column(String(200))
    to_category: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
