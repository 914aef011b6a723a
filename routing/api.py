"""Routing routes: a petition's routing and similar cases, the triage queue, category corrections, admin rules."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from cases import service as cases
from core.accounts import Actor, Role
from core.web import StaffActor, transaction
from routing import service
from routing.models import RoutingRule

router = APIRouter(prefix="/api/v1", tags=["routing"])
TRIAGE_ROLES = {Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN}


class SimilarOut(BaseModel):
    tracking_no: str
    title: str
    score: float
    kind: str = Field(description="similar | repeat (same petitioner) | group (others, same area)")
    status: str
    unit: str | None
    received_at: datetime
    reply: str | None = Field(description="the latest official reply, for reuse")


class RoutingOut(BaseModel):
    tracking_no: str
    category: str | None
    category_confidence: float | None
    category_source: str | None
    category_top3: list
    suggestions: list[dict]
    auto_assigned: bool
    needs_triage: bool
    lead_unit: str | None
    repeat_of: str | None
    similar: list[SimilarOut]
    routed_at: datetime | None


class CategoryIn(BaseModel):
    category: str = Field(min_length=1, max_length=200, description="code, name or 一级/二级 path")
    reason: str | None = Field(default=None, max_length=2000)


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern=r"^(keyword|category|area)$")
    pattern: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=40)
    weight: float = Field(default=0.6, ge=0.0, le=2.0)


class RuleOut(RuleIn):
    id: int
    active: bool
    created_by: str


def _require(actor: Actor, roles: set[Role]) -> None:
    if actor.role not in roles:
        raise HTTPException(403, f"a {actor.role} may not do this")


def _routing_out(session, petition) -> RoutingOut:
    decision = service.get_decision(session, petition)
    similar = []
    for link, other in service.list_links(session, petition):
        reply = other.replies[-1].text[:500] if other.replies else None
        similar.append(SimilarOut(tracking_no=other.tracking_no, title=other.title, score=link.score, kind=link.kind,
                                  status=other.status, unit=other.lead_unit.code if other.lead_unit else None,
                                  received_at=other.received_at, reply=reply))
    repeat = None
    if decision and decision.repeat_of_id:
        repeat = session.get(type(petition), decision.repeat_of_id).tracking_no
    return RoutingOut(
        tracking_no=petition.tracking_no, category=decision.category if decision else None,
        category_confidence=decision.category_confidence if decision else None,
        category_source=decision.category_source if decision else None,
        category_top3=decision.category_top3 if decision else [], suggestions=decision.suggestions if decision else [],
        auto_assigned=bool(decision and decision.auto_assigned),
        needs_triage=decision.needs_triage if decision else petition.lead_unit_id is None,
        lead_unit=petition.lead_unit.code if petition.lead_unit else None, repeat_of=repeat, similar=similar,
        routed_at=decision.created_at if decision else None)


@router.get("/petitions/{tracking_no}/routing", response_model=RoutingOut)
def get_routing(request: Request, actor: StaffActor, tracking_no: str):
    """Return the category, unit suggestions with reasons, and similar, repeat and group cases of a petition."""
    try:
        with transaction(request) as session:
            return _routing_out(session, cases.access(session, tracking_no, actor))
    except cases.CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/petitions/{tracking_no}/routing", response_model=RoutingOut)
def reroute(request: Request, actor: StaffActor, tracking_no: str):
    """Route the petition again now (after a correction or new rules)."""
    _require(actor, TRIAGE_ROLES)
    try:
        with transaction(request) as session:
            petition = cases.get_by_tracking_no(session, tracking_no)
            service.do_route(session, petition_id=petition.id)
            return _routing_out(session, petition)
    except cases.CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/petitions/{tracking_no}/category", response_model=RoutingOut)
def correct_category(request: Request, actor: StaffActor, tracking_no: str, body: CategoryIn):
    """Correct the category; the correction becomes training data for the next `petition train`."""
    _require(actor, TRIAGE_ROLES | {Role.HANDLER})
    try:
        with transaction(request) as session:
            petition = cases.access(session, tracking_no, actor)
            service.do_correct_category(session, petition=petition, category=body.category, reason=body.reason,
                                        actor=actor)
            # The suggestions follow from the category: recompute them with the corrected one.
            service.do_route(session, petition_id=petition.id)
            return _routing_out(session, petition)
    except cases.CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except service.RoutingError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/triage", response_model=list[RoutingOut])
def triage_queue(request: Request, response: Response, actor: StaffActor,
                 limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000)):
    """List petitions that no unit has yet, oldest first, with the router's suggestions; X-Total-Count has them all."""
    _require(actor, TRIAGE_ROLES)
    with transaction(request) as session:
        response.headers["X-Total-Count"] = str(service.count_triage(session))
        return [_routing_out(session, p) for p, _ in service.list_triage(session, limit=limit, offset=offset)]


def _rule_out(rule: RoutingRule, unit_code: str) -> RuleOut:
    return RuleOut(id=rule.id, name=rule.name, kind=rule.kind, pattern=rule.pattern, unit=unit_code, weight=rule.weight,
                   active=rule.active, created_by=rule.created_by)


@router.get("/routing/rules", response_model=list[RuleOut])
def list_rules(request: Request, actor: StaffActor):
    """List the admin routing rules."""
    _require(actor, TRIAGE_ROLES | {Role.ANALYST})
    with transaction(request) as session:
        return [_rule_out(rule, unit.code) for rule, unit in service.list_rules(session)]


@router.post("/routing/rules", response_model=RuleOut, status_code=201)
def create_rule(request: Request, actor: StaffActor, body: RuleIn):
    """Add a rule: a keyword, category or area that points to a unit."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            rule = service.create_rule(session, name=body.name, kind=body.kind, pattern=body.pattern, unit_code=body.unit,
                                       weight=body.weight, actor=actor)
            return _rule_out(rule, body.unit)
    except service.RoutingError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.put("/routing/rules/{rule_id}", response_model=RuleOut)
def update_rule(request: Request, actor: StaffActor, rule_id: int, body: RuleIn):
    """Replace a rule's fields."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            rule = service.update_rule(session, rule_id=rule_id, name=body.name, kind=body.kind, pattern=body.pattern,
                                       unit_code=body.unit, weight=body.weight)
            return _rule_out(rule, body.unit)
    except service.RoutingError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.delete("/routing/rules/{rule_id}", status_code=204)
def delete_rule(request: Request, actor: StaffActor, rule_id: int):
    """Switch a rule off (kept for the record)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            service.get_rule(session, rule_id).active = False
    except service.RoutingError as exc:
        raise HTTPException(exc.status, str(exc)) from None
