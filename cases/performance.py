"""Supervision figures: overdue and due-soon boards and each unit's three rates (三率) over a period."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, aliased, selectinload

from cases.enums import TERMINAL, Status
from cases.models import Feedback, Petition, Unit
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
    # Median days from acceptance to reply, over the petitions that have both.
    median_days: float | None = None

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
        return None if self.median_days is None else round(self.median_days, 1)


_COUNTED = ("received", "replied", "replied_on_time", "resolved", "with_feedback", "satisfied", "open_overdue")


def _in_period(since: datetime, until: datetime) -> tuple:
    return Petition.received_at >= since, Petition.received_at < until, Petition.lead_unit_id.is_not(None)


def _one_if(condition):
    return func.sum(case((condition, 1), else_=0))


def unit_performance(session: Session, *, since: datetime, until: datetime, now: datetime | None = None
                     ) -> list[UnitFigures]:
    """Return every lead unit's figures for petitions received in [since, until), busiest first."""
    p, in_period = Petition, _in_period(since, until)
    # The latest verdict of each petition of the period (a citizen may give feedback on a review reply too).
    latest = (select(Feedback.petition_id, func.max(Feedback.id).label("id")).join(p, p.id == Feedback.petition_id)
              .where(*in_period).group_by(Feedback.petition_id).subquery())
    verdict = aliased(Feedback)
    rows = session.execute(
        select(p.lead_unit_id, func.count(), _one_if(p.replied_at.is_not(None)),
               _one_if(p.replied_at.is_not(None) & (p.handle_due_at.is_(None) | (p.replied_at <= p.handle_due_at))),
               _one_if(p.status.in_([s.value for s in _RESOLVED])), func.count(latest.c.id),
               _one_if(verdict.satisfied.is_(True)), _one_if(p.overdue_since.is_not(None) & p.status.in_(_OPEN)))
        .outerjoin(latest, latest.c.petition_id == p.id).outerjoin(verdict, verdict.id == latest.c.id)
        .where(*in_period).group_by(p.lead_unit_id)).all()
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_([r[0] for r in rows])))} if rows else {}
    medians = _median_days(session, since, until, by_unit=True)
    figures = []
    for unit_id, *counts in rows:
        unit = units[unit_id]
        f = UnitFigures(unit.id, unit.code, unit.name, *(int(n or 0) for n in counts))
        f.median_days = medians.get(unit_id)
        figures.append(f)
    return sorted(figures, key=lambda f: (-f.received, f.unit_code))


def period_total(session: Session, rows: list[UnitFigures], *, since: datetime, until: datetime) -> UnitFigures:
    """Return the figures of all units together (the median over every petition, not a median of medians)."""
    total = UnitFigures(None, "", "")
    for f in rows:
        for name in _COUNTED:
            setattr(total, name, getattr(total, name) + getattr(f, name))
    total.median_days = _median_days(session, since, until, by_unit=False).get(None)
    return total


def _median_days(session: Session, since: datetime, until: datetime, *, by_unit: bool) -> dict[int | None, float]:
    """Return the median days from acceptance to reply per lead unit (or under None for all)."""
    p = Petition
    where = (*_in_period(since, until), p.accepted_at.is_not(None), p.replied_at.is_not(None))
    key = p.lead_unit_id if by_unit else literal(None)
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", p.replied_at - p.accepted_at)
        median = func.percentile_cont(0.5).within_group(seconds)
        stmt = select(key, median).where(*where)
        rows = session.execute(stmt.group_by(key) if by_unit else stmt)
        return {k: float(v) / 86400 for k, v in rows if v is not None}
    # SQLite has no percentile: it serves small deployments, so the pairs are read and the median taken here.
    spans: dict[int | None, list[float]] = {}
    for unit_id, accepted, replied in session.execute(select(key, p.accepted_at, p.replied_at).where(*where)):
        spans.setdefault(unit_id, []).append((replied - accepted).total_seconds() / 86400)
    return {k: statistics.median(v) for k, v in spans.items()}


# A board shows at most this many petitions per unit (the most urgent); the unit's badge counts them all.
BOARD_ROWS_PER_UNIT = 50


@dataclass
class BoardRow:
    unit_id: int | None
    unit_code: str
    unit_name: str
    petitions: list[Petition]
    total: int = 0


def _board(session: Session, condition, order, per_unit: int) -> list[BoardRow]:
    where = (Petition.status.in_(_OPEN), condition)
    totals = dict(session.execute(select(Petition.lead_unit_id, func.count()).where(*where)
                                  .group_by(Petition.lead_unit_id)).all())
    # The most urgent rows of each unit only: a city's board can hold tens of thousands of petitions.
    ranked = (select(Petition.id, func.row_number().over(partition_by=Petition.lead_unit_id,
                                                         order_by=(order, Petition.id)).label("rank"))
              .where(*where).subquery())
    rows = session.scalars(select(Petition).join(ranked, ranked.c.id == Petition.id).where(ranked.c.rank <= per_unit)
                           .options(selectinload(Petition.lead_unit)).order_by(order, Petition.id))
    boards: dict[int | None, BoardRow] = {}
    for p in rows:
        unit: Unit | None = p.lead_unit
        key = unit.id if unit else None
        name = unit.name if unit else "未交办 / unassigned"
        board = boards.setdefault(key, BoardRow(key, unit.code if unit else "-", name, [], totals.get(key, 0)))
        board.petitions.append(p)
    return sorted(boards.values(), key=lambda b: (-b.total, b.unit_code))


def overdue_board(session: Session, *, per_unit: int = BOARD_ROWS_PER_UNIT) -> list[BoardRow]:
    """Return open overdue petitions grouped by lead unit, the longest overdue first (at most per_unit each)."""
    return _board(session, Petition.overdue_since.is_not(None), Petition.due_at, per_unit)


def due_soon_board(session: Session, *, hours: int = 72, now: datetime | None = None,
                   per_unit: int = BOARD_ROWS_PER_UNIT) -> list[BoardRow]:
    """Return open petitions due within ``hours`` and not yet overdue, grouped by lead unit, soonest first."""
    now = now or utcnow()
    return _board(session, (Petition.due_at >= now) & (Petition.due_at < now + timedelta(hours=hours))
                  & Petition.overdue_since.is_(None), Petition.due_at, per_unit)
