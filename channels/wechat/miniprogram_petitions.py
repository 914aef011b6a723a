"""A mini-program user's own petitions: the list, one in full, its timeline, and the citizen's acts on it
(feedback on the reply, the review request, supplements).

A petition is reached only through ``cases.service.access_citizen`` with the user's source digest, so a user
sees and acts on their own petitions alone. Citizen acts go through the same domain services the bot uses
(``do_feedback``, ``do_supplement``, ``do_transition(REQUEST_REVIEW)``), recorded on the citizen's behalf like
the bot's.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import messages
from bot import service as conversations
from cases import catalog
from cases import service as cases
from cases.enums import TERMINAL, Action, Status
from cases.models import AuditEvent, Petition, Unit
from cases.schemas import TransitionIn
from channels.wechat.adapter import MINIPROGRAM
from channels.wechat.miniprogram_service import Refused, keep_upload
from channels.wechat.schemas import (
    PetitionDetailOut,
    PetitionOut,
    PetitionReplyOut,
    PetitionsOut,
    ProgressOut,
    TimelineEventOut,
)
from core.accounts import Actor, Role
from core.db import Database, utcnow

# Acts a citizen does themselves are recorded on their behalf, as the bot records them.
CITIZEN = Actor("citizen:miniprogram", Role.AGENT)
# The audit actions a citizen may see on their own petition; internal ones (notes, supervision, objections,
# category corrections, overdue marks) stay with the staff.
VISIBLE = frozenset({"register", "dispatch", "accept", "not_accept", "forward", "assign", "start", "reply", "extend",
                     "close", "request_review", "start_review", "reply_review", "request_reexam", "start_reexam",
                     "reply_reexam", "withdraw", "merge", "supplement", "feedback"})
# Reasons worth showing: a refusal must be explained to the citizen; the others are the citizen's own words.
REASON_SHOWN = frozenset({"not_accept", "feedback", "request_review", "request_reexam"})
NOT_FOUND = "no petition with this tracking number for this user"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _own(session: Session, tracking_no: str, openid: str) -> Petition:
    if len(tracking_no) > 20:
        raise Refused(404, NOT_FOUND)
    try:
        return cases.access_citizen(session, tracking_no, source=cases.source_digest(MINIPROGRAM, openid))
    except cases.NotFound:
        raise Refused(404, NOT_FOUND) from None


def _unit_label(unit: Unit, lang: str) -> str:
    return (unit.name_en or unit.name) if lang == "en" else unit.name


def _petition_out(p: Petition, locale: str, *, detail: bool = False) -> PetitionOut | PetitionDetailOut:
    lang = conversations.normalise_locale(locale)
    unit = p.lead_unit
    fields = dict(tracking_no=p.tracking_no, title=p.title, status=p.status,
                  status_name=messages.status_name(p.status, lang), received_at=p.received_at.isoformat(),
                  due_at=_iso(p.due_at), unit=_unit_label(unit, lang) if unit else None,
                  replies=[PetitionReplyOut(kind=r.kind, text=r.text, created_at=r.created_at.isoformat())
                           for r in p.replies])
    if not detail:
        return PetitionOut(**fields)
    return PetitionDetailOut(**fields, content=p.content, address=p.address, demand=p.demand,
                             supplements=[{"text": s.text, "attachments": len(s.attachments or []),
                                           "created_at": s.created_at.isoformat()} for s in p.supplements])


def list_petitions(db: Database, *, openid: str, locale: str) -> PetitionsOut:
    """List the petitions this user filed, newest first, with status, deadline and replies."""
    with db.session() as session:
        own = cases.list_by_source(session, cases.source_digest(MINIPROGRAM, openid), limit=50)
        return PetitionsOut(petitions=[_petition_out(p, locale) for p in own])


def get_petition(db: Database, *, openid: str, tracking_no: str, locale: str) -> PetitionDetailOut:
    """Return one of this user's petitions in full; Refused (404) for anyone else's."""
    with db.session() as session:
        return _petition_out(_own(session, tracking_no, openid), locale, detail=True)


def _unit_name(session: Session, code: str | None, lang: str) -> str | None:
    if not code:
        return None
    unit = catalog.get_unit_by_code(session, str(code))
    return _unit_label(unit, lang) if unit is not None else None


def _event(session: Session, e: AuditEvent, lang: str) -> TimelineEventOut:
    data = e.data or {}
    out = TimelineEventOut(action=e.action, status=e.to_status, at=e.created_at.isoformat())
    if e.action == "assign":
        out.unit = _unit_name(session, data.get("lead"), lang)
    elif e.action == "dispatch":
        out.unit = _unit_name(session, data.get("unit"), lang)
    elif e.action == "forward":
        # Forwarded to one of our units (a code) or to an outside authority (its name, as the staff wrote it).
        out.unit = _unit_name(session, data.get("to"), lang) or data.get("to")
    elif e.action == "accept":
        out.due_at = data.get("handle_due_at")
    elif e.action == "extend":
        out.due_at = data.get("handle_due_at")
    elif e.action == "request_review":
        out.due_at = data.get("review_due_at")
    elif e.action == "request_reexam":
        out.due_at = data.get("reexam_due_at")
    elif e.action == "feedback":
        out.satisfied = bool(data.get("satisfied"))
    elif e.action == "merge":
        out.into = data.get("into")
    if e.action in REASON_SHOWN:
        out.reason = e.reason
    return out


def _feedback_given(p: Petition) -> bool:
    """Tell whether the citizen already judged the latest reply."""
    if not p.feedbacks or not p.replies:
        return False
    return p.feedbacks[-1].created_at >= p.replies[-1].created_at


def progress(session: Session, p: Petition, locale: str) -> ProgressOut:
    """Describe a petition for its citizen: the visible timeline and what they may do now."""
    lang, now = conversations.normalise_locale(locale), utcnow()
    events = session.scalars(select(AuditEvent).where(AuditEvent.petition_id == p.id, AuditEvent.action.in_(VISIBLE))
                             .order_by(AuditEvent.seq))
    status = Status(p.status)
    review_open = status is Status.REPLIED and p.review_request_due_at is not None and now <= p.review_request_due_at
    return ProgressOut(
        tracking_no=p.tracking_no, status=p.status, status_name=messages.status_name(p.status, lang), due_at=_iso(p.due_at),
        events=[_event(session, e, lang) for e in events],
        can_feedback=status in (Status.REPLIED, Status.REVIEW_REPLIED, Status.FINAL) and not _feedback_given(p),
        feedback_due_at=_iso(p.feedback_due_at) if status in (Status.REPLIED, Status.REVIEW_REPLIED) else None,
        can_request_review=review_open, review_request_due_at=_iso(p.review_request_due_at) if review_open else None,
        can_supplement=status not in TERMINAL)


def get_progress(db: Database, *, openid: str, tracking_no: str, locale: str) -> ProgressOut:
    """Return the events of this user's petition that a citizen may see, and what they may do now."""
    with db.session() as session:
        return progress(session, _own(session, tracking_no, openid), locale)


def _refused(exc: cases.CaseError) -> Refused:
    return Refused(exc.status, str(exc))


def do_feedback(db: Database, *, openid: str, tracking_no: str, satisfied: bool, reason: str | None,
                locale: str) -> ProgressOut:
    """Record the citizen's judgement of the reply: satisfied closes the petition; not satisfied needs a reason."""
    with db.transaction() as session:
        petition = _own(session, tracking_no, openid)
        if _feedback_given(petition):
            raise Refused(409, "feedback on this reply has already been given")
        try:
            cases.do_feedback(session, tracking_no=petition.tracking_no, satisfied=satisfied,
                              reason=(reason or "").strip() or None, actor=CITIZEN)
        except cases.CaseError as exc:
            raise _refused(exc) from None
        session.refresh(petition)
        return progress(session, petition, locale)


def do_review(db: Database, *, openid: str, tracking_no: str, reason: str, locale: str) -> ProgressOut:
    """Ask for a review (复查) of the reply, inside the window the reply opened."""
    with db.transaction() as session:
        petition = _own(session, tracking_no, openid)
        try:
            cases.do_transition(session, tracking_no=petition.tracking_no, actor=CITIZEN,
                                change=TransitionIn(action=Action.REQUEST_REVIEW, reason=reason.strip()))
        except cases.CaseError as exc:
            raise _refused(exc) from None
        return progress(session, petition, locale)


def do_supplement(db: Database, *, openid: str, tracking_no: str, text: str, locale: str) -> ProgressOut:
    """Add information to an open petition."""
    with db.transaction() as session:
        petition = _own(session, tracking_no, openid)
        try:
            cases.do_supplement(session, tracking_no=petition.tracking_no, text=text, channel=MINIPROGRAM,
                                actor=CITIZEN)
        except cases.CaseError as exc:
            raise _refused(exc) from None
        return progress(session, petition, locale)


def do_supplement_image(db: Database, *, openid: str, tracking_no: str, upload: BinaryIO, text: str,
                        locale: str) -> ProgressOut:
    """Attach a photo (with optional words) to an open petition."""
    with db.session() as session:
        _own(session, tracking_no, openid)  # before storing a byte of a stranger's upload
    attachment = keep_upload(upload, "image")
    try:
        with db.transaction() as session:
            petition = _own(session, tracking_no, openid)
            cases.do_supplement(session, tracking_no=petition.tracking_no, text=text, channel=MINIPROGRAM,
                                actor=CITIZEN, attachments=[attachment])
            return progress(session, petition, locale)
    except cases.CaseError as exc:
        Path(attachment["path"]).unlink(missing_ok=True)
        raise _refused(exc) from None
