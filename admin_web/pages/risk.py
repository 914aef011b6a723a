"""Risk desk: the situation dashboard, the district risk map, alerts (acknowledge, resolve) and key persons."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from admin_web.web import Console, person, render, require
from cases.models import OPEN_STATUSES, Area, Petition, Petitioner
from core.accounts import Role
from core.db import utcnow
from core.settings import get_settings
from core.web import transaction
from risk import alerts, geo
from risk.api import hotspots
from risk.models import PetitionRisk, RiskAlert
from risk.service import LEVEL_LABELS

router = APIRouter()
Reader = Annotated[Console, Depends(require(Role.SUPERVISOR, Role.ADMIN, Role.ANALYST))]
Actor = Annotated[Console, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
CITY = "430100"


def _today_start() -> datetime:
    tz = ZoneInfo(get_settings().timezone)
    return datetime.combine(utcnow().astimezone(tz).date(), time(0), tz)


def _map(session, days: int, lang: str):
    spots = {h.area_code: h for h in hotspots(session, since=utcnow() - timedelta(days=days))}
    shapes = geo.city_districts(CITY)
    values = {s.code: spots[s.code].petitions if s.code in spots else 0 for s in shapes}
    markers = {code: h.by_level.get("red", 0) + h.by_level.get("orange", 0) for code, h in spots.items()}
    title = f"近 {days} 天信访量（按区县）" if lang == "zh" else f"Petitions by district, last {days} days"
    svg = geo.svg_map(shapes, values, markers=markers, link="/console/risk/area/{code}", title=title)
    rows = sorted(((s.code, s.name, values[s.code], spots[s.code].by_level if s.code in spots else {},
                    spots[s.code].open_alerts if s.code in spots else 0) for s in shapes), key=lambda r: -r[2])
    return svg, rows


@router.get("/risk")
def dashboard(request: Request, console: Reader):
    """Show today's intake, open alerts by level, overdue cases and the risk map."""
    with transaction(request) as session:
        today = _today_start()
        intake = dict(session.execute(select(Petition.channel, func.count()).where(Petition.received_at >= today)
                                      .group_by(Petition.channel)).all())
        open_alerts = dict(session.execute(select(RiskAlert.level, func.count()).where(RiskAlert.status != "resolved")
                                           .group_by(RiskAlert.level)).all())
        # "Open" as the list of open statuses (not "not terminal"), so that the partial index of open petitions
        # serves these counts instead of a scan of every petition.
        overdue = session.scalar(select(func.count()).select_from(Petition).where(
            Petition.overdue_since.is_not(None), Petition.status.in_(OPEN_STATUSES)))
        levels = dict(session.execute(select(PetitionRisk.level, func.count())
                                      .join(Petition, Petition.id == PetitionRisk.petition_id)
                                      .where(Petition.status.in_(OPEN_STATUSES))
                                      .group_by(PetitionRisk.level)).all())
        latest = alerts.list_alerts(session, status="open", limit=8)
        svg, rows = _map(session, 30, console.lang)
        extra = _statistics(session, console.lang)
    return render(request, "risk/dashboard.html", console, intake=intake, intake_total=sum(intake.values()),
                  open_alerts=open_alerts, overdue=overdue, levels=levels, latest=latest, map_svg=svg, map_rows=rows,
                  level_labels=LEVEL_LABELS, kinds=alerts.KINDS, **extra)


def _statistics(session, lang: str) -> dict:
    """Hot topics and the forecast; the dashboard still shows the rest if they cannot be computed."""
    from admin_web.risk_stats import dashboard_statistics

    try:
        return dashboard_statistics(session, lang=lang)
    except Exception:  # statistics are a view; a failure here must not hide the alerts
        import logging

        logging.getLogger(__name__).exception("risk statistics failed")
        return {"topics": None, "forecast": None}


@router.get("/risk/map")
def risk_map(request: Request, console: Reader, days: Annotated[int, Query(ge=1, le=3660)] = 30):
    """Show the district choropleth of recent petitions with red/orange markers and drill-down links."""
    with transaction(request) as session:
        svg, rows = _map(session, days, console.lang)
    return render(request, "risk/map.html", console, map_svg=svg, map_rows=rows, days=days, level_labels=LEVEL_LABELS)


@router.get("/risk/area/{code}")
def area(request: Request, console: Reader, code: str, days: Annotated[int, Query(ge=1, le=3660)] = 30):
    """List a district's recent petitions with their risk levels, the riskiest first."""
    code = code[:12]
    with transaction(request) as session:
        name = session.scalar(select(Area.name).where(Area.code == code)) or code
        rows = session.execute(select(Petition, PetitionRisk).outerjoin(PetitionRisk, PetitionRisk.petition_id == Petition.id)
                               .where(Petition.area_code.startswith(code),
                                      Petition.received_at >= utcnow() - timedelta(days=days))
                               .order_by(Petition.received_at.desc()).limit(300)).all()
        order = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
        rows = sorted(rows, key=lambda r: order.get(r[1].level if r[1] else "", 4))
        area_alerts = alerts.list_alerts(session, area=code, limit=50)
    return render(request, "risk/area.html", console, code=code, name=name, rows=rows, days=days, alerts=area_alerts,
                  level_labels=LEVEL_LABELS, kinds=alerts.KINDS)


@router.get("/risk/alerts")
def alert_list(request: Request, console: Reader, level: str | None = Query(None, max_length=10),
               kind: str | None = Query(None, max_length=20), status: str | None = Query("open", max_length=12),
               done: str | None = Query(None, max_length=40)):
    """List alerts with filters; supervisors acknowledge and resolve them here."""
    with transaction(request) as session:
        rows = alerts.list_alerts(session, level=level or None, kind=kind or None, status=status or None)
        tracking = {}
        for a in rows:
            tracking[a.id] = a.evidence.get("tracking_nos") or []
    said = {"ack": ("已确认", "Acknowledged"), "resolved": ("已处置", "Resolved")}.get(done or "")
    flash = (said[1] if console.lang == "en" else said[0]) if said else None
    return render(request, "risk/alerts.html", console, rows=rows, tracking=tracking, level=level, kind=kind, status=status,
                  level_labels=LEVEL_LABELS, kinds=alerts.KINDS, flash=flash,
                  can_act=console.role in (Role.SUPERVISOR, Role.ADMIN), error=None)


@router.post("/risk/alerts/{alert_id}/ack")
def acknowledge(request: Request, console: Actor, alert_id: int):
    """Acknowledge an alert."""
    try:
        with transaction(request) as session:
            alerts.do_acknowledge(session, alert_id=alert_id, actor=console.actor)
    except alerts.AlertNotFound:
        return _alert_error(request, console, 404, ("没有此预警", "No such alert"))
    return RedirectResponse("/console/risk/alerts?done=ack", status_code=303)


@router.post("/risk/alerts/{alert_id}/resolve")
def resolve(request: Request, console: Actor, alert_id: int, note: Annotated[str, Form(max_length=2000)] = ""):
    """Resolve an alert with what was done."""
    try:
        with transaction(request) as session:
            alerts.do_resolve(session, alert_id=alert_id, note=note, actor=console.actor)
    except alerts.AlertNotFound:
        return _alert_error(request, console, 404, ("没有此预警", "No such alert"))
    except alerts.AlertError:
        return _alert_error(request, console, 422, ("请填写处置情况", "Say how the alert was resolved"))
    return RedirectResponse("/console/risk/alerts?done=resolved&status=", status_code=303)


def _alert_error(request: Request, console: Console, status: int, error: tuple[str, str]):
    with transaction(request) as session:
        rows = alerts.list_alerts(session, status="open")
        tracking = {a.id: a.evidence.get("tracking_nos") or [] for a in rows}
    return render(request, "risk/alerts.html", console, status_code=status, rows=rows, tracking=tracking, level=None,
                  kind=None, status="open", level_labels=LEVEL_LABELS, kinds=alerts.KINDS, flash=None,
                  can_act=True, error=error)


@router.get("/risk/persons")
def key_persons(request: Request, console: Actor, days: Annotated[int, Query(ge=1, le=3660)] = 180,
                min_petitions: Annotated[int, Query(ge=2, le=100)] = 3):
    """List repeat petitioners across channels, with their cases."""
    with transaction(request) as session:
        people = alerts.list_key_persons(session, since=utcnow() - timedelta(days=days), min_petitions=min_petitions)
        for p in people:
            who = session.get(Petitioner, p["petitioner_id"]) if p["petitioner_id"] else None
            p["person"] = person(console, who.name if who else None, who.phone if who else None)
    return render(request, "risk/persons.html", console, people=people, days=days, min_petitions=min_petitions)
