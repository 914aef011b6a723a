"""The supervision desk: overdue and due-soon boards, extension decisions, 督办 notes and each unit's three rates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from admin_web.web import Console, render, require
from cases import catalog, performance
from cases.handling import service as handling
from cases.handling.service import SUPERVISION_KINDS
from cases.models import Petition
from cases.service import CaseError, Invalid, access
from core.accounts import Role
from core.db import utcnow
from core.settings import get_settings
from core.web import transaction

router = APIRouter()
Supervisor = Annotated[Console, Depends(require(Role.SUPERVISOR, Role.ADMIN))]

KIND_LABELS = {"urge": ("催办", "Urge"), "supervise": ("督办", "Supervise (督办)"), "escalate": ("提级督办", "Escalate")}
DUE_SOON_HOURS = (24, 72, 168)
PERIODS = {"week": ("本周", "This week"), "month": ("本月", "This month"), "quarter": ("本季度", "This quarter"),
           "custom": ("自定义", "Custom")}
MAX_CUSTOM_DAYS = 3 * 366
_TRACKING = re.compile(r"^[A-Z]{2}-\d{8}-\d{6}$")
# Flash messages after a redirect, by code: the query string carries a code, never text.
DONE = {"note": ("督办意见已发送", "Supervision note sent"), "approved": ("已批准延期", "Extension approved"),
        "rejected": ("已驳回延期申请", "Extension request rejected")}


def span(delta: timedelta, lang: str) -> str:
    """Say how long a span is in days and hours (or minutes when under an hour)."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} 天 {hours} 小时" if lang != "en" else f"{days} d {hours} h"
    if hours:
        return f"{hours} 小时" if lang != "en" else f"{hours} h"
    return f"{rest // 60} 分钟" if lang != "en" else f"{rest // 60} min"


def _flash(console: Console, done: str | None, no: str | None) -> str | None:
    if done not in DONE:
        return None
    zh, en = DONE[done]
    suffix = f" · {no}" if no and _TRACKING.match(no) else ""
    return (en if console.lang == "en" else zh) + suffix


def _board(request: Request, console: Console, *, hours: int = 72, flash: str | None = None, flash_kind: str = "ok",
           status_code: int = 200):
    now = utcnow()
    hours = hours if hours in DUE_SOON_HOURS else 72
    with transaction(request) as session:
        overdue = performance.overdue_board(session)
        due_soon = performance.due_soon_board(session, hours=hours, now=now)
        extensions = handling.list_extension_requests(session, state="pending")
        notes = handling.list_supervision(session, open_only=True)
        units = {u.id: u for u in catalog.list_units(session, active_only=False)}
        return render(request, "supervision/index.html", console, status_code=status_code, now=now, hours=hours,
                      hours_choices=DUE_SOON_HOURS, overdue=overdue, due_soon=due_soon, extensions=extensions,
                      notes=notes, units=units, kinds=SUPERVISION_KINDS, kind_labels=KIND_LABELS,
                      span=lambda d: span(d, console.lang), flash=flash, flash_kind=flash_kind,
                      overdue_count=sum(b.total for b in overdue), due_soon_count=sum(b.total for b in due_soon))


def _refused(console: Console, exc: CaseError) -> str:
    return ("无法完成：" if console.lang != "en" else "Could not be done: ") + str(exc)


@router.get("/supervision", include_in_schema=False)
def board(request: Request, console: Supervisor, hours: int = 72, done: str | None = None, no: str | None = None):
    """Show the overdue and due-soon boards, pending extension requests and open supervision notes."""
    return _board(request, console, hours=hours, flash=_flash(console, done, no))


@router.post("/supervision/{tracking_no}/note", include_in_schema=False)
def send_note(request: Request, console: Supervisor, tracking_no: str, kind: Annotated[str, Form(max_length=20)] = "",
              text: Annotated[str, Form(max_length=20000)] = "", days: Annotated[str, Form(max_length=4)] = "3"):
    """Send the lead unit an urge, 督办 or escalation note with a deadline for its response."""
    try:
        if not days.strip().isdigit():
            raise Invalid("the response deadline is a number of working days")
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            handling.do_supervise(session, petition=petition, kind=kind, text=text, respond_within_days=int(days),
                                  actor=console.actor)
    except CaseError as exc:
        if exc.status == 404:
            raise
        return _board(request, console, flash=_refused(console, exc), flash_kind="error", status_code=exc.status)
    return RedirectResponse("/console/supervision?" + urlencode({"done": "note", "no": tracking_no}), status_code=303)


@router.post("/supervision/extensions/{request_id}", include_in_schema=False)
def decide_extension(request: Request, console: Supervisor, request_id: int,
                     decision: Annotated[str, Form(max_length=10)] = "", note: Annotated[str, Form(max_length=20000)] = ""):
    """Approve or reject a pending extension request (a rejection needs a note)."""
    try:
        if decision not in ("approve", "reject"):
            raise Invalid("decision must be approve or reject")
        with transaction(request) as session:
            row = handling.do_decide_extension(session, request_id=request_id, approve=decision == "approve",
                                               note=note, actor=console.actor)
            tracking_no = session.get(Petition, row.petition_id).tracking_no
    except CaseError as exc:
        if exc.status == 404:
            raise
        return _board(request, console, flash=_refused(console, exc), flash_kind="error", status_code=exc.status)
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse("/console/supervision?" + urlencode({"done": done, "no": tracking_no}), status_code=303)


@dataclass
class Window:
    """The period the performance figures cover: [since, until) with its local first and last day."""

    period: str
    since: datetime
    until: datetime
    first: date
    last: date


def window(period: str, start: str | None, end: str | None, *, today: date, tz: ZoneInfo) -> Window:
    """Return the calendar period (this week, month or quarter) or the custom range, in the deployment's timezone."""
    if period == "custom":
        try:
            first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
        except ValueError:
            raise Invalid("a custom period needs a from and a to date (YYYY-MM-DD)") from None
        if last < first:
            raise Invalid("the period ends before it starts")
        if (last - first).days > MAX_CUSTOM_DAYS:
            raise Invalid(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
    elif period == "week":
        first, last = today - timedelta(days=today.weekday()), today
    elif period == "quarter":
        first, last = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    else:
        period, first, last = "month", today.replace(day=1), today
    since = datetime.combine(first, time.min, tz)
    until = datetime.combine(last + timedelta(days=1), time.min, tz)
    return Window(period, since, until, first, last)


def percent(rate: float | None) -> str:
    """Show a rate as a percentage, or a dash when it is undefined."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


@router.get("/supervision/performance", include_in_schema=False)
def unit_performance(request: Request, console: Supervisor, period: str = "month",
                     start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                     end: Annotated[str | None, Query(alias="to", max_length=10)] = None):
    """Show each lead unit's received, replied and three rates (三率) for a period."""
    start, end = start or None, end or None
    tz = ZoneInfo(get_settings().timezone)
    now = utcnow()
    try:
        span_ = window(period, start, end, today=now.astimezone(tz).date(), tz=tz)
    except Invalid as exc:
        return render(request, "supervision/performance.html", console, status_code=422, rows=[], total=None,
                      periods=PERIODS, period="custom", start=start or "", end=end or "", window=None, percent=percent,
                      flash=_refused(console, exc), flash_kind="error")
    with transaction(request) as session:
        rows = performance.unit_performance(session, since=span_.since, until=span_.until, now=now)
        total = performance.period_total(session, rows, since=span_.since, until=span_.until) if rows else None
        return render(request, "supervision/performance.html", console, rows=rows, total=total,
                      periods=PERIODS, period=span_.period, start=start or span_.first.isoformat(),
                      end=end or span_.last.isoformat(), window=span_, percent=percent)
