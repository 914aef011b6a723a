"""Supervision figures: overdue and due-soon boards and each unit's three rates (三率) over a period."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cases.enums import TERMINAL, Status
from cases.models import Petition, Unit
from core.db import utcnow

_OPEN = [s.value for s in Status if s not in TERMINAL]
_RESOLVED = {Status.CLOSED, Status.FINAL}


@dataclass
class UnitFigures:
    """One unit's figures for a period; rates are None when there is nothing to divide by."""

    unit_id: int | None
    unit_code: str
    unit_name: str
    received: int = 0
    replied: int = 0
    replied_on_time: int = 0
    resolved: int = 0
    with_feedback: int = 0
    satisfied: int = 0
    open_overdue: int = 0
    handling_days: list[float] = field(default_factory=list)

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def response_rate(self) -> float | None:
        """Share of the period's petitions that got a reply."""
        return self._rate(self.replied, self.received)

    @property
    def on_time_rate(self) -> float | None:
        """Share of replies given within the handling deadline."""
        return self._rate(self.replied_on_time, self.replied)

    @property
    def resolution_rate(self) -> float | None:
        """Share of the period's petitions that are closed for good (办结)."""
        return self._rate(self.resolved, self.received)

    @property
    def satisfaction_rate(self) -> float | None:
        """Share of petitions with a verdict whose latest verdict is satisfied."""
        return self._rate(self.satisfied, self.with_feedback)

    @property
    def median_handling_days(self) -> float | None:
        """Median days from acceptance to reply."""
        return round(statistics.median(self.handling_days), 1) if self.handling_days else None


def unit_performance(session: Session, *, since: datetime, until: datetime, now: datetime | None = None
                     ) -> list[UnitFigures]:
    """Return every lead unit's figures for petitions received in [since, until), busiest first."""
    now = now or utcnow()
    rows = session.scalars(select(Petition).where(Petition.received_at >= since, Petition.received_at < until,
                                                  Petition.lead_unit_id.is_not(None))
                           .options(selectinload(Petition.feedbacks), selectinload(Petition.lead_unit)))
    figures: dict[int, UnitFigures] = {}
    for p in rows:
        unit = p.lead_unit
        f = figures.setdefault(unit.id, UnitFigures(unit.id, unit.code, unit.name))
        f.received += 1
        if p.replied_at is not None:
            f.replied += 1
            if p.handle_due_at is None or p.replied_at <= p.handle_due_at:
                f.replied_on_time += 1
            if p.accepted_at is not None:
                f.handling_days.append((p.replied_at - p.accepted_at).total_seconds() / 86400)
        if Status(p.status) in _RESOLVED:
            f.resolved += 1
        if p.feedbacks:
            f.with_feedback += 1
            f.satisfied += bool(p.feedbacks[-1].satisfied)
        if p.overdue_since is not None and p.status in _OPEN:
            f.open_overdue += 1
    return sorted(figures.values(), key=lambda f: (-f.received, f.unit_code))


@dataclass
class BoardRow:
    unit_id: int | None
    unit_code: str
    unit_name: str
    petitions: list[Petition]


def _board(session: Session, condition, order) -> list[BoardRow]:
    rows = session.scalars(select(Petition).where(Petition.status.in_(_OPEN), condition)
                           .options(selectinload(Petition.lead_unit)).order_by(order))
    boards: dict[int | None, BoardRow] = {}
    for p in rows:
        unit: Unit | None = p.lead_unit
        key = unit.id if unit else None
        name = unit.name if unit else "未交办 / unassigned"
        board = boards.setdefault(key, BoardRow(key, unit.code if unit else "-", name, []))
        board.petitions.append(p)
    return sorted(boards.values(), key=lambda b: (-len(b.petitions), b.unit_code))


def overdue_board(session: Session) -> list[BoardRow]:
    """Return open overdue petitions grouped by lead unit, the longest overdue first."""
    return _board(session, Petition.overdue_since.is_not(None), Petition.due_at)


def due_soon_board(session: Session, *, hours: int = 72, now: datetime | None = None) -> list[BoardRow]:
    """Return open petitions due within ``hours`` and not yet overdue, grouped by lead unit, soonest first."""
    now = now or utcnow()
    return _board(session, (Petition.due_at >= now) & (Petition.due_at < now + timedelta(hours=hours))
                  & Petition.overdue_since.is_(None), Petition.due_at)
