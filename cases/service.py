"""Petitions: registration, the status machine in action, supplements, feedback and deadline supervision.

Lookup and access live in ``cases.access``, staff lists in ``cases.listing``, errors in ``cases.errors``;
this module re-exports them so that the service stays the one interface of the case domain.
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cases import audit, catalog
from cases.access import (
    access,
    access_citizen,
    access_public,
    check_visible,
    get_by_tracking_no,
    list_by_source,
    new_query_code,
    query_code_digest,
    source_digest,
)
from cases.clock import Clock, load_policy
from cases.enums import TERMINAL, Action, Status, UnitRole
from cases.errors import CaseError, Conflict, Forbidden, Invalid, NotFound
from cases.listing import area_condition, list_petitions, unit_condition
from cases.models import Assignment, Feedback, Petition, Petitioner, Reply, Supplement, TrackingCounter, Unit
from cases.schemas import PetitionCreate, PetitionerIn, TransitionIn
from cases.workflow import MOVES
from core.accounts import SYSTEM, Actor
from core.db import insert_for, utcnow
from core.events import PetitionRegistered, PetitionStatusChanged, publish
from core.security import pii
from core.settings import get_settings

# Re-exported so that callers import the whole interface from the service, whichever module of the package defines it.
__all__ = ["COLLECTIVE_HEAD_COUNT", "CaseError", "Conflict", "Forbidden", "Invalid", "NotFound", "access",
           "access_citizen", "access_public", "area_condition", "check_visible", "clock", "create_petition",
           "do_feedback", "do_scan_deadlines", "do_supplement", "do_transition", "find_or_create_petitioner",
           "get_by_tracking_no", "list_by_source", "list_petitions", "new_query_code", "query_code_digest",
           "source_digest", "unit_condition"]

COLLECTIVE_HEAD_COUNT = 5


@functools.lru_cache(maxsize=8)
def _clock(policy: str) -> Clock:
    return Clock(load_policy(policy))


def clock() -> Clock:
    """Return the statutory clock of the configured policy."""
    return _clock(get_settings().clock_policy)


def _next_tracking_no(session: Session, at: datetime) -> str:
    day = at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y%m%d")
    insert = insert_for(session)
    # One atomic upsert per number: concurrent registrations on the same day never share one.
    stmt = insert(TrackingCounter).values(day=day, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=[TrackingCounter.day], set_={"last": TrackingCounter.last + 1})
    seq = session.execute(stmt.returning(TrackingCounter.last)).scalar_one()
    if seq > 999_999:
        raise Conflict("daily tracking-number range exhausted")
    return f"XF-{day}-{seq:06d}"


def find_or_create_petitioner(session: Session, data: PetitionerIn) -> Petitioner | None:
    """Return the petitioner with the same verified ID number or phone, or a new one; None if anonymous."""
    if not (data.name or data.phone or data.id_number):
        return None
    cipher = pii()
    id_hash = cipher.lookup_hash(data.id_number) if data.id_number else None
    phone_hash = cipher.lookup_hash(data.phone) if data.phone else None
    person = None
    if id_hash:
        person = session.scalar(select(Petitioner).where(Petitioner.id_number_hash == id_hash))
    if person is None and phone_hash and not id_hash:
        person = session.scalar(select(Petitioner).where(Petitioner.phone_hash == phone_hash))
    if person is None:
        person = Petitioner()
        session.add(person)
    person.name = data.name or person.name
    if data.phone:
        person.phone, person.phone_hash = data.phone, phone_hash
    if data.id_number:
        person.id_number, person.id_number_hash = data.id_number, id_hash
    session.flush()
    return person


def create_petition(session: Session, *, data: PetitionCreate, actor: Actor, now: datetime | None = None,
                    source: str | None = None) -> tuple[Petition, str]:
    """Register a petition, start its acceptance clock and return it with its one-time query code.

    ``source`` is the channel identity's digest (``source_digest``) when a citizen filed it themselves.
    """
    now = now or utcnow()
    received = data.received_at or now
    if received > now:
        raise Invalid("received_at lies in the future")
    area = catalog.get_area(session, data.area_code)
    if area is None:
        raise Invalid(f"unknown area code {data.area_code}")
    category = None
    if data.category:
        category = catalog.resolve_category(session, data.category)
        if category is None:
            raise Invalid(f"unknown category {data.category!r}")
    code = new_query_code()
    petition = Petition(
        tracking_no=_next_tracking_no(session, received),
        query_code_hash=query_code_digest(code),
        channel=data.channel,
        language=data.language,
        title=data.title,
        content=data.content,
        category_id=category.id if category else None,
        area_code=area.code,
        address=data.address,
        head_count=data.head_count,
        is_collective=data.head_count >= COLLECTIVE_HEAD_COUNT,
        demand=data.demand,
        occurred_on=data.occurred_on,
        previous_tracking_no=data.previous_tracking_no,
        petitioner=find_or_create_petitioner(session, data.petitioner) if data.petitioner else None,
        source_hash=source,
        status=Status.REGISTERED,
        received_at=received,
        accept_due_at=clock().deadline("accept", received),
    )
    petition.due_at = petition.accept_due_at
    session.add(petition)
    session.flush()
    audit.append(session, actor=actor.name, action="register", petition_id=petition.id, to_status=Status.REGISTERED,
                 data={"channel": str(data.channel), "tracking_no": petition.tracking_no}, at=now)
    publish(session, PetitionRegistered(petition.id, petition.tracking_no))
    return petition, code


def _unit(session: Session, code: str) -> Unit:
    unit = catalog.get_unit_by_code(session, code)
    if unit is None or not unit.active:
        raise Invalid(f"unknown unit {code!r}")
    return unit


def do_transition(session: Session, *, tracking_no: str, change: TransitionIn, actor: Actor,
                  now: datetime | None = None) -> Petition:
    """Apply one action of the status machine, set the new deadlines and write the audit event."""
    now = now or utcnow()
    petition = get_by_tracking_no(session, tracking_no, for_update=True)
    check_visible(session, petition, actor)
    move = MOVES[change.action]
    current = Status(petition.status)
    if actor.role not in move.roles:
        raise Forbidden(f"a {actor.role} may not {change.action}")
    if current not in move.sources:
        raise Conflict(f"cannot {change.action} a petition that is {current}")
    if move.needs_reason and not (change.reason and change.reason.strip()):
        raise Invalid(f"{change.action} needs a reason")
    if move.needs_text and not (change.text and change.text.strip()):
        raise Invalid(f"{change.action} needs the reply text")
    if move.needs_unit and not change.unit:
        raise Invalid(f"{change.action} needs a unit")
    target = move.target or current
    data = _apply(session, petition, change, actor, now)
    petition.status = target
    if target in TERMINAL:
        petition.due_at = None
        petition.closed_at = petition.closed_at or now
    if petition.due_at is None or petition.due_at > now:
        petition.overdue_since = None
    session.flush()
    audit.append(session, actor=actor.name, action=str(change.action), petition_id=petition.id,
                 from_status=current, to_status=target, reason=change.reason, data=data, at=now)
    publish(session, PetitionStatusChanged(petition.id, petition.tracking_no, current, target, str(change.action)))
    if change.action is Action.ACCEPT and petition.lead_unit_id is not None:
        # Dispatched before acceptance (by the router or triage): accepting it puts it straight in the lead unit's hands.
        petition.status = Status.ASSIGNED
        session.flush()
        audit.append(session, actor=actor.name, action=str(Action.ASSIGN), petition_id=petition.id,
                     from_status=Status.ACCEPTED, to_status=Status.ASSIGNED, reason="dispatched before acceptance",
                     data={"lead": petition.lead_unit.code if petition.lead_unit else None}, at=now)
        publish(session, PetitionStatusChanged(petition.id, petition.tracking_no, Status.ACCEPTED, Status.ASSIGNED,
                                               str(Action.ASSIGN)))
    return petition


def _apply(session: Session, p: Petition, change: TransitionIn, actor: Actor, now: datetime) -> dict:
    """Do what an action means besides the status; return the facts worth auditing."""
    c, action = clock(), change.action
    if action is Action.ACCEPT:
        p.accepted_at = now
        p.handle_due_at = p.due_at = c.deadline("handle", now)
        return {"handle_due_at": p.handle_due_at.isoformat()}
    if action is Action.FORWARD:
        p.forwarded_to = change.unit or change.text
        if not p.forwarded_to:
            raise Invalid("forward needs the unit or authority it goes to (unit or text)")
        return {"to": p.forwarded_to}
    if action is Action.ASSIGN:
        lead = _unit(session, change.unit)
        helpers = [_unit(session, code) for code in change.assisting]
        for a in p.assignments:
            a.active = False
        session.add(Assignment(petition_id=p.id, unit_id=lead.id, role=UnitRole.LEAD, assigned_by=actor.name, assigned_at=now))
        for unit in helpers:
            if unit.id != lead.id:
                session.add(Assignment(petition_id=p.id, unit_id=unit.id, role=UnitRole.ASSIST,
                                       assigned_by=actor.name, assigned_at=now))
        p.lead_unit_id = lead.id
        session.flush()
        session.expire(p, ["assignments"])
        return {"lead": lead.code, "assisting": [u.code for u in helpers]}
    if action in (Action.REPLY, Action.REPLY_REVIEW, Action.REPLY_REEXAM):
        kind = {Action.REPLY: "reply", Action.REPLY_REVIEW: "review", Action.REPLY_REEXAM: "reexam"}[action]
        session.add(Reply(petition_id=p.id, kind=kind, unit_id=actor.unit_id or p.lead_unit_id, text=change.text.strip(),
                          author=actor.name, created_at=now))
        p.due_at = None
        if action is Action.REPLY:
            p.replied_at = now
            p.feedback_due_at = c.deadline("feedback", now)
            p.review_request_due_at = c.deadline("review_request", now)
        elif action is Action.REPLY_REVIEW:
            p.reexam_request_due_at = c.deadline("reexam_request", now)
        session.flush()
        session.expire(p, ["replies"])
        return {"reply_kind": kind}
    if action is Action.REQUEST_REVIEW:
        _check_window(p.review_request_due_at, now, "review")
        p.review_due_at = p.due_at = c.deadline("review", now)
        return {"review_due_at": p.review_due_at.isoformat()}
    if action is Action.REQUEST_REEXAM:
        _check_window(p.reexam_request_due_at, now, "re-examination")
        p.reexam_due_at = p.due_at = c.deadline("reexam", now)
        return {"reexam_due_at": p.reexam_due_at.isoformat()}
    if action is Action.EXTEND:
        if p.extension_days:
            raise Conflict("the handling period has already been extended once")
        if p.handle_due_at is None:
            raise Conflict("nothing to extend before acceptance")
        days = change.days or c.period("extension_max").amount
        try:
            p.handle_due_at = p.due_at = c.extend(p.handle_due_at, days)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        p.extension_days, p.extension_reason, p.extension_approver = days, change.reason, actor.name
        return {"days": days, "handle_due_at": p.handle_due_at.isoformat()}
    if action is Action.OBJECT:
        lead = p.lead_unit.code if p.lead_unit else None
        for a in p.assignments:
            a.active = False
        p.lead_unit_id = None
        session.flush()
        session.expire(p, ["assignments", "lead_unit"])
        return {"from_unit": lead}
    if action is Action.MERGE:
        if not change.target:
            raise Invalid("merge needs the target tracking number")
        target = get_by_tracking_no(session, change.target)
        if target.id == p.id:
            raise Invalid("a petition cannot be merged into itself")
        if Status(target.status) in TERMINAL:
            raise Conflict(f"cannot merge into {target.tracking_no}, which is {target.status}")
        p.merged_into_id = target.id
        return {"into": target.tracking_no}
    return {}


def _check_window(window_end: datetime | None, now: datetime, what: str) -> None:
    if window_end is None or now > window_end:
        raise Conflict(f"the window to request {what} closed on {window_end.isoformat() if window_end else '—'}")


def do_supplement(session: Session, *, tracking_no: str, text: str, channel: str, actor: Actor,
                  attachments: list[dict] | None = None, now: datetime | None = None) -> Petition:
    """Add a citizen's information or attachments to an open petition."""
    now = now or utcnow()
    petition = get_by_tracking_no(session, tracking_no, for_update=True)
    if Status(petition.status) in TERMINAL:
        raise Conflict(f"petition {tracking_no} is {petition.status}; nothing can be added")
    if not (text.strip() or attachments):
        raise Invalid("nothing to add")
    session.add(Supplement(petition_id=petition.id, text=text.strip(), attachments=attachments or [], channel=channel,
                           created_at=now))
    session.flush()
    session.expire(petition, ["supplements"])
    audit.append(session, actor=actor.name, action="supplement", petition_id=petition.id,
                 data={"chars": len(text), "attachments": len(attachments or [])}, at=now)
    return petition


def do_feedback(session: Session, *, tracking_no: str, satisfied: bool, reason: str | None, actor: Actor,
                now: datetime | None = None) -> Petition:
    """Record the citizen's verdict on a reply; a satisfied verdict closes the petition."""
    now = now or utcnow()
    petition = get_by_tracking_no(session, tracking_no, for_update=True)
    if petition.status not in (Status.REPLIED, Status.REVIEW_REPLIED, Status.FINAL):
        raise Conflict(f"no reply to give feedback on: the petition is {petition.status}")
    if not satisfied and not (reason and reason.strip()):
        raise Invalid("say why you are not satisfied")
    session.add(Feedback(petition_id=petition.id, satisfied=satisfied, reason=reason, created_at=now))
    session.flush()
    audit.append(session, actor=actor.name, action="feedback", petition_id=petition.id, reason=reason,
                 data={"satisfied": satisfied}, at=now)
    if satisfied and petition.status in (Status.REPLIED, Status.REVIEW_REPLIED):
        do_transition(session, tracking_no=tracking_no, actor=SYSTEM, now=now,
                      change=TransitionIn(action=Action.CLOSE, reason="satisfied"))
    return petition


def do_scan_deadlines(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Mark newly overdue petitions and close replies whose feedback window passed; idempotent."""
    now = now or utcnow()
    overdue = list(session.scalars(select(Petition).where(
        Petition.due_at < now, Petition.overdue_since.is_(None), Petition.status.not_in([s.value for s in TERMINAL]))
        .with_for_update()))
    for p in overdue:
        p.overdue_since = now
        audit.append(session, actor=SYSTEM.name, action="overdue", petition_id=p.id, from_status=p.status,
                     to_status=p.status, data={"due_at": p.due_at.isoformat()}, at=now)
    closed = 0
    expired = select(Petition).where(or_(
        (Petition.status == Status.REPLIED) & (Petition.feedback_due_at < now),
        (Petition.status == Status.REVIEW_REPLIED) & (Petition.reexam_request_due_at < now)))
    for p in list(session.scalars(expired)):
        # The citizen gave no verdict and asked for nothing more in time: the answer stands.
        if p.status == Status.REPLIED and (p.review_request_due_at and p.review_request_due_at > now):
            if any(not f.satisfied for f in p.feedbacks):
                continue
        do_transition(session, tracking_no=p.tracking_no, actor=SYSTEM, now=now,
                      change=TransitionIn(action=Action.CLOSE, reason="no feedback in time"))
        closed += 1
    session.flush()
    return {"overdue": len(overdue), "closed": closed}
