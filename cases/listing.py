"""Staff lists of petitions: filters, paging, and the area and unit conditions other queries reuse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from cases import catalog
from cases.enums import UnitRole
from cases.errors import Invalid
from cases.models import Assignment, Petition
from core.accounts import Actor, Role


def list_petitions(session: Session, *, actor: Actor, status: list[str] | None = None, category: str | None = None,
                   area_code: str | None = None, unit: str | None = None, channel: str | None = None,
                   q: str | None = None, overdue: bool | None = None, received_from: datetime | None = None,
                   received_to: datetime | None = None, page: int = 1, page_size: int = 50
                   ) -> tuple[list[Petition], int]:
    """List petitions the actor may see, filtered, newest first, with the total count."""
    stmt = select(Petition)
    if status:
        stmt = stmt.where(Petition.status.in_(status))
    if category:
        node = catalog.resolve_category(session, category)
        if node is None:
            raise Invalid(f"unknown category {category!r}")
        stmt = stmt.where(Petition.category_id == node.id)
    if area_code:
        stmt = stmt.where(area_condition(area_code))
    if unit or actor.role is Role.HANDLER:
        unit_id = actor.unit_id if actor.role is Role.HANDLER else _unit_id(session, unit)
        stmt = stmt.where(unit_condition(session, unit_id))
    if channel:
        stmt = stmt.where(Petition.channel == channel)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Petition.title.like(like), Petition.content.like(like), Petition.tracking_no == q))
    if overdue is not None:
        stmt = stmt.where(Petition.overdue_since.is_not(None) if overdue else Petition.overdue_since.is_(None))
    if received_from:
        stmt = stmt.where(Petition.received_at >= received_from)
    if received_to:
        stmt = stmt.where(Petition.received_at < received_to)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.options(selectinload(Petition.assignments), selectinload(Petition.replies),
                     selectinload(Petition.feedbacks), selectinload(Petition.category), selectinload(Petition.area),
                     selectinload(Petition.lead_unit), selectinload(Petition.petitioner))
        .order_by(Petition.received_at.desc(), Petition.id.desc())
        .offset((page - 1) * page_size).limit(page_size))
    return list(rows), total


def area_condition(code: str):
    """Return the condition for petitions in an area or under it (a city code such as 430100 covers its districts)."""
    prefix = code.rstrip("0") or code
    if not prefix.isdigit():
        return Petition.area_code.startswith(prefix)
    # The codes under a digit prefix lie in [prefix, prefix + 1) in any collation: a B-tree range, where
    # LIKE 'prefix%' scans every row unless the column's collation is C.
    upper = str(int(prefix) + 1).zfill(len(prefix))
    at_least = Petition.area_code >= prefix
    return at_least if len(upper) > len(prefix) else at_least & (Petition.area_code < upper)


def unit_condition(session: Session, unit_id: int | None):
    """Return the condition for the petitions a unit leads or assists (active assignments)."""
    # An active lead assignment always names the petition's lead unit (assign, object and dispatch keep the two
    # together), so the unit's petitions are those it leads plus the few it assists. Reading the assisted ids
    # first lets PostgreSQL combine two index scans instead of testing a subquery on every row (a million).
    assisted = list(session.scalars(select(Assignment.petition_id).where(
        Assignment.unit_id == unit_id, Assignment.active.is_(True), Assignment.role == UnitRole.ASSIST)))
    return or_(Petition.lead_unit_id == unit_id, Petition.id.in_(assisted)) if assisted else Petition.lead_unit_id == unit_id


def _unit_id(session: Session, code: str) -> int:
    unit = catalog.get_unit_by_code(session, code)
    if unit is None:
        raise Invalid(f"unknown unit {code!r}")
    return unit.id
