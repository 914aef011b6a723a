"""Risk API: alerts (list, acknowledge, resolve), hotspots by area, key persons; risk facts on every petition."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.api import PETITION_EXTRAS
from cases.models import Area, Petition
from core.accounts import Actor, Role
from core.db import utcnow
from core.web import StaffActor, transaction
from risk import alerts, service
from risk.models import PetitionRisk, RiskAlert

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
READERS = {Role.SUPERVISOR, Role.ADMIN, Role.ANALYST, Role.TRIAGE}
ACTORS = {Role.SUPERVISOR, Role.ADMIN}


class AlertOut(BaseModel):
    id: int
    kind: str
    level: str
    status: str
    title_zh: str
    title_en: str
    area_code: str | None
    category: str | None
    evidence: dict
    created_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    resolved_by: str | None
    resolution: str | None


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class HotspotOut(BaseModel):
    area_code: str
    name: str
    petitions: int
    by_level: dict[str, int]
    open_alerts: int


def _require(actor: Actor, roles: set[Role]) -> None:
    if actor.role not in roles:
        raise HTTPException(403, f"a {actor.role} may not do this")


def _out(a: RiskAlert) -> AlertOut:
    return AlertOut.model_validate(a, from_attributes=True)


def _risk_extras(session: Session, petition: Petition) -> dict:
    risk = service.get_risk(session, petition.id)
    if risk is None:
        return {}
    return {"risk_level": risk.level, "risk_reasons": risk.reasons}


PETITION_EXTRAS.append(_risk_extras)


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(request: Request, actor: StaffActor, level: str | None = Query(None, pattern="^(red|orange|yellow|blue)$"),
                kind: str | None = Query(None, max_length=20), status: str | None = Query(None, max_length=12),
                area: str | None = Query(None, max_length=12)):
    """List alerts, the most severe first."""
    _require(actor, READERS)
    with transaction(request) as session:
        return [_out(a) for a in alerts.list_alerts(session, level=level, kind=kind, status=status, area=area)]


def _act(request: Request, actor: Actor, operation) -> AlertOut:
    _require(actor, ACTORS)
    try:
        with transaction(request) as session:
            return _out(operation(session))
    except alerts.AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
def acknowledge(request: Request, actor: StaffActor, alert_id: int):
    """Acknowledge an alert."""
    return _act(request, actor, lambda s: alerts.do_acknowledge(s, alert_id=alert_id, actor=actor))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(request: Request, actor: StaffActor, alert_id: int, body: ResolveIn):
    """Resolve an alert, saying what was done."""
    return _act(request, actor, lambda s: alerts.do_resolve(s, alert_id=alert_id, note=body.note, actor=actor))


def hotspots(session: Session, *, since: datetime, level: str = "district") -> list[HotspotOut]:
    """Count petitions (by risk level) and open alerts per area of one level since a date."""
    width = 6 if level == "district" else 9
    code = func.substr(Petition.area_code, 1, width)
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(select(code, PetitionRisk.level, func.count()).select_from(Petition)
                           .outerjoin(PetitionRisk, PetitionRisk.petition_id == Petition.id)
                           .where(Petition.received_at >= since, Petition.area_code.is_not(None))
                           .group_by(code, PetitionRisk.level))
    for area, risk_level, n in rows:
        counts.setdefault(area, {})[risk_level or "unscored"] = n
    open_alerts = dict(session.execute(select(RiskAlert.area_code, func.count()).where(RiskAlert.status != "resolved")
                                       .group_by(RiskAlert.area_code)).all())
    names = dict(session.execute(select(Area.code, Area.name).where(Area.code.in_(list(counts)))).all())
    out = [HotspotOut(area_code=area, name=names.get(area, area), petitions=sum(levels.values()), by_level=levels,
                      open_alerts=sum(n for a, n in open_alerts.items() if a and a.startswith(area)))
           for area, levels in counts.items()]
    return sorted(out, key=lambda h: -h.petitions)


@router.get("/hotspots", response_model=list[HotspotOut])
def get_hotspots(request: Request, actor: StaffActor, days: Annotated[int, Query(ge=1, le=3660)] = 30,
                 level: str = Query("district", pattern="^(district|street)$")):
    """Petitions and open alerts per district (or street) over the last days."""
    _require(actor, READERS)
    with transaction(request) as session:
        return hotspots(session, since=utcnow() - timedelta(days=days), level=level)


@router.get("/key-persons")
def key_persons(request: Request, actor: StaffActor, days: Annotated[int, Query(ge=1, le=3660)] = 180,
                min_petitions: Annotated[int, Query(ge=2, le=100)] = 3):
    """People who petitioned repeatedly, across channels (no personal data: petitioner ids and tracking numbers)."""
    _require(actor, ACTORS | {Role.TRIAGE})
    with transaction(request) as session:
        return alerts.list_key_persons(session, since=utcnow() - timedelta(days=days), min_petitions=min_petitions)


@router.get("/trends")
def get_trends(request: Request, actor: StaffActor, by: str | None = Query(None, pattern="^(category|area|channel)$"),
               freq: str = Query("D", pattern="^(D|W)$"), days: Annotated[int, Query(ge=7, le=3660)] = 90):
    """Counts per day or week (per category, district or channel), a four-week forecast of the total, and surge alarms."""
    from risk import trends

    _require(actor, READERS)
    now = utcnow()
    with transaction(request) as session:
        series = trends.query_counts(session, by=by, freq=freq, since=now - timedelta(days=days), until=now)
        total = series if by is None else \
            trends.query_counts(session, by=None, freq=freq, since=now - timedelta(days=days), until=now)
    total_series = next(iter(total.values()))
    horizon = 28 if freq == "D" else 4
    alarms = {str(key): [a.period.isoformat() for a in trends.cusum(s) if a.period] for key, s in series.items()}
    return {"by": by, "freq": freq, "series": {str(key): s.to_dict() for key, s in series.items()},
            "forecast": trends.forecast(total_series, horizon=horizon).to_dict(), "alarms": alarms}
