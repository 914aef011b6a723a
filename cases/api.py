"""REST routes of the case domain: thin wrappers that parse, call one service function and map errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session

from cases import audit, catalog, service
from cases.enums import STATUS_LABELS, Channel, Status
from cases.models import Petition
from cases.schemas import (
    TRACKING_NO,
    AreaOut,
    AuditOut,
    CategoryOut,
    FeedbackOut,
    PetitionCreate,
    PetitionCreated,
    PetitionerOut,
    PetitionOut,
    PetitionPage,
    PublicPetitionOut,
    ReplyOut,
    TransitionIn,
    UnitOut,
)
from cases.workflow import allowed_actions
from core.accounts import Actor, Role
from core.security import mask_name, mask_phone
from core.web import StaffActor, transaction

router = APIRouter(prefix="/api/v1")



def _raise(exc: service.CaseError | catalog.CatalogError):
    status = exc.status if isinstance(exc, service.CaseError) else 422
    raise HTTPException(status, str(exc)) from None


def _category_out(c) -> CategoryOut | None:
    if c is None:
        return None
    return CategoryOut(code=c.code, name=c.name, name_en=c.name_en, level=c.level,
                       parent=c.parent.code if c.parent else None)


# Packages above cases add facts to every petition they know about (risk level and reasons) by registering a
# function here: (session, petition) -> {field: value}. Cases imports none of them.
PETITION_EXTRAS: list[Callable[[Session, Petition], dict]] = []


def _petition_out(session: Session, p: Petition, actor: Actor, *, history: bool = False) -> PetitionOut:
    extras: dict = {}
    for extra in PETITION_EXTRAS:
        extras.update(extra(session, p))
    person = None
    if p.petitioner is not None:
        masked = actor.role is Role.ANALYST
        person = PetitionerOut(
            name=mask_name(p.petitioner.name) if masked else p.petitioner.name,
            phone=mask_phone(p.petitioner.phone) if masked else p.petitioner.phone,
            id_number=(p.petitioner.id_number[:4] + "*" * 10 + p.petitioner.id_number[-4:])
            if masked and p.petitioner.id_number else p.petitioner.id_number,
        )
    merged_into = session.get(Petition, p.merged_into_id).tracking_no if p.merged_into_id else None
    return PetitionOut(
        tracking_no=p.tracking_no, status=p.status, channel=p.channel, language=p.language, title=p.title,
        content=p.content, category=_category_out(p.category),
        area=AreaOut(code=p.area.code, name=p.area.name, level=p.area.level, parent=p.area.parent_code) if p.area else None,
        address=p.address, head_count=p.head_count, is_collective=p.is_collective, demand=p.demand,
        occurred_on=p.occurred_on, previous_tracking_no=p.previous_tracking_no, petitioner=person,
        lead_unit=p.lead_unit.code if p.lead_unit else None,
        assisting_units=[a.unit.code for a in p.assignments if a.active and a.role == "assist"],
        forwarded_to=p.forwarded_to, merged_into=merged_into,
        received_at=p.received_at, accepted_at=p.accepted_at, replied_at=p.replied_at, closed_at=p.closed_at,
        due_at=p.due_at, accept_due_at=p.accept_due_at, handle_due_at=p.handle_due_at,
        extension_days=p.extension_days, review_request_due_at=p.review_request_due_at,
        overdue=p.overdue_since is not None, allowed_actions=[str(a) for a in allowed_actions(p.status)],
        replies=[ReplyOut(kind=r.kind, unit=r.unit.name if r.unit else None, text=r.text, created_at=r.created_at)
                 for r in p.replies],
        feedbacks=[FeedbackOut(satisfied=f.satisfied, reason=f.reason, created_at=f.created_at) for f in p.feedbacks],
        history=[AuditOut(seq=e.seq, actor=e.actor, action=e.action, from_status=e.from_status, to_status=e.to_status,
                          reason=e.reason, created_at=e.created_at) for e in audit.list_for_petition(session, p.id)]
        if history else None, **extras,
    )


@router.get("/areas", response_model=list[AreaOut], tags=["reference"])
def list_areas(request: Request, level: str | None = None, parent: str | None = Query(None, max_length=12)):
    """List the configured administrative areas (code, name, level, parent)."""
    with transaction(request) as session:
        return [AreaOut(code=a.code, name=a.name, level=a.level, parent=a.parent_code, name_en=a.name_en)
                for a in catalog.list_areas(session, level=level, parent=parent)]


@router.get("/units", response_model=list[UnitOut], tags=["reference"])
def list_units(request: Request):
    """List the responsible units with their jurisdiction and duty lists."""
    with transaction(request) as session:
        return [UnitOut(code=u.code, name=u.name, name_en=u.name_en, level=u.level,
                        parent=u.parent.code if u.parent else None, area_codes=u.area_codes,
                        categories=u.categories, description=u.description)
                for u in catalog.list_units(session)]


@router.get("/categories", response_model=list[CategoryOut], tags=["reference"])
def list_categories(request: Request, level: int | None = Query(None, ge=1, le=3)):
    """List the category taxonomy."""
    with transaction(request) as session:
        return [_category_out(c) for c in catalog.list_categories(session, level=level)]


@router.post("/petitions", response_model=PetitionCreated, status_code=201, tags=["petitions"])
def create_petition(request: Request, body: PetitionCreate, actor: StaffActor):
    """Register a petition received by staff; the response holds the citizen's query code once."""
    try:
        with transaction(request) as session:
            petition, code = service.create_petition(session, data=body, actor=actor)
            out = _petition_out(session, petition, actor)
    except service.CaseError as exc:
        _raise(exc)
    return PetitionCreated(tracking_no=petition.tracking_no, query_code=code, status=petition.status,
                           accept_due_at=petition.accept_due_at, petition=out)


@router.get("/petitions", response_model=PetitionPage, tags=["petitions"])
def list_petitions(
    request: Request,
    actor: StaffActor,
    status: Annotated[list[Status] | None, Query()] = None,
    category: str | None = Query(None, max_length=100),
    area_code: str | None = Query(None, pattern=r"^\d{2,12}$"),
    unit: str | None = Query(None, max_length=40),
    channel: Channel | None = None,
    q: str | None = Query(None, max_length=200),
    overdue: bool | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    page: int = Query(1, ge=1, le=100000),
    page_size: int = Query(50, ge=1, le=200),
):
    """List petitions with filters and pagination (a handler sees only its unit's)."""
    for bound in (received_from, received_to):
        if bound is not None and bound.tzinfo is None:
            raise HTTPException(422, "received_from / received_to need a timezone offset")
    try:
        with transaction(request) as session:
            rows, total = service.list_petitions(
                session, actor=actor, status=[s.value for s in status] if status else None, category=category,
                area_code=area_code, unit=unit, channel=channel, q=q, overdue=overdue, received_from=received_from,
                received_to=received_to, page=page, page_size=page_size)
            return PetitionPage(items=[_petition_out(session, p, actor) for p in rows], total=total, page=page,
                                page_size=page_size)
    except service.CaseError as exc:
        _raise(exc)


@router.get("/petitions/{tracking_no}", response_model=PetitionOut, tags=["petitions"])
def get_petition(request: Request, actor: StaffActor, tracking_no: str):
    """Return one petition with its replies, feedback and audit history."""
    try:
        with transaction(request) as session:
            petition = service.access(session, tracking_no, actor)
            return _petition_out(session, petition, actor, history=True)
    except service.CaseError as exc:
        _raise(exc)


@router.post("/petitions/{tracking_no}/transitions", response_model=PetitionOut, tags=["petitions"])
def transition(request: Request, actor: StaffActor, tracking_no: str, body: TransitionIn):
    """Move a petition through the status machine (409 on an illegal move)."""
    try:
        with transaction(request) as session:
            petition = service.do_transition(session, tracking_no=tracking_no, change=body, actor=actor)
            out = _petition_out(session, petition, actor, history=True)
    except service.CaseError as exc:
        _raise(exc)
    return out


@router.get("/public/petitions/{tracking_no}", response_model=PublicPetitionOut, tags=["public"])
def public_petition(request: Request, tracking_no: str = ..., code: str = Query(..., min_length=4, max_length=16)):
    """Show a citizen the status, unit, due date and replies of their petition (no personal data)."""
    if not re.fullmatch(TRACKING_NO, tracking_no):
        raise HTTPException(404, "no petition with this tracking number and query code")
    try:
        with transaction(request) as session:
            p = service.access_public(session, tracking_no, code)
            zh, en = STATUS_LABELS[Status(p.status)]
            return PublicPetitionOut(
                tracking_no=p.tracking_no, status=p.status, status_label=zh, status_label_en=en,
                unit=p.lead_unit.name if p.lead_unit else None, unit_en=p.lead_unit.name_en if p.lead_unit else None,
                received_at=p.received_at, due_at=p.due_at,
                replies=[ReplyOut(kind=r.kind, unit=r.unit.name if r.unit else None, text=r.text,
                                  created_at=r.created_at) for r in p.replies])
    except service.CaseError as exc:
        _raise(exc)
