"""What staff read of routing: a petition's decision and links, and the queue of petitions waiting for a person."""

from __future__ import annotations

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from cases.enums import Status
from cases.models import AuditEvent, Petition
from routing.models import RoutingDecision, SimilarLink


def get_decision(session: Session, petition: Petition) -> RoutingDecision | None:
    """Return the routing decision of a petition, if routed."""
    return session.scalar(select(RoutingDecision).where(RoutingDecision.petition_id == petition.id))


def list_links(session: Session, petition: Petition) -> list[tuple[SimilarLink, Petition]]:
    """Return a petition's similar, repeat and group links with the linked petitions, best first."""
    rows = session.execute(select(SimilarLink, Petition).join(Petition, Petition.id == SimilarLink.similar_id)
                           .where(SimilarLink.petition_id == petition.id).order_by(SimilarLink.rank))
    return [(link, other) for link, other in rows]


def _triage_filter(*, channel: str | None, area_prefix: str | None, objected: bool):
    """Return the WHERE clause of the triage queue with its optional filters."""
    routed = select(RoutingDecision.petition_id).where(RoutingDecision.needs_triage.is_(False))
    waiting = or_(and_(Petition.status == Status.REGISTERED, Petition.id.not_in(routed)),
                  # Accepted with no lead: a unit objected to the dispatch, or nobody has chosen one yet.
                  Petition.status == Status.ACCEPTED)
    clauses = [waiting, Petition.lead_unit_id.is_(None)]
    if channel:
        clauses.append(Petition.channel == channel)
    if area_prefix:
        clauses.append(Petition.area_code.startswith(area_prefix, autoescape=True))
    if objected:
        clauses += [Petition.status == Status.ACCEPTED,
                    exists().where(AuditEvent.petition_id == Petition.id, AuditEvent.action == "object")]
    return and_(*clauses)


def list_triage(session: Session, *, limit: int = 100, offset: int = 0, channel: str | None = None,
                area_prefix: str | None = None, objected: bool = False) -> list[tuple[Petition, RoutingDecision | None]]:
    """List petitions waiting for a person to choose the unit, oldest first, optionally filtered and paged."""
    where = _triage_filter(channel=channel, area_prefix=area_prefix, objected=objected)
    rows = session.scalars(select(Petition).where(where).order_by(Petition.received_at, Petition.id)
                           .limit(limit).offset(offset))
    return [(p, get_decision(session, p)) for p in rows]


def count_triage(session: Session, *, channel: str | None = None, area_prefix: str | None = None,
                 objected: bool = False) -> int:
    """Count the petitions waiting for triage that pass the filters."""
    where = _triage_filter(channel=channel, area_prefix=area_prefix, objected=objected)
    return int(session.scalar(select(func.count()).select_from(Petition).where(where)) or 0)
