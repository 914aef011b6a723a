"""Console mediation: schedule a session from a case, my sessions and invitations, and the host's controls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from admin_web.web import Console, render, require
from cases.models import Petition
from cases.service import CaseError, Invalid, access
from core.accounts import Role, User
from core.db import utcnow
from core.settings import get_settings
from core.web import transaction
from mediation import agreement, recordings, rooms
from mediation import service as mediation
from mediation.enums import (
    CASE_ACTION_LABELS,
    INVITE_LABELS,
    KIND_LABELS,
    OUTCOME_LABELS,
    PARTIES,
    ROLE_LABELS,
    STATUS_LABELS,
    InviteStatus,
    Kind,
    ParticipantRole,
)
from mediation.schemas import SessionCreate

router = APIRouter()
Mediator = Annotated[Console, Depends(require(Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN))]
ROWS = 8
DONE: dict[str, tuple[str, str]] = {
    "scheduled": ("已排期，邀请已发出。", "Scheduled; the invitations are on their way."),
    "terms": ("协议条款已保存，等待各方通过各自的链接确认。", "Terms saved; each party confirms through their own link."),
    "ended": ("会议已结束。", "The session has ended."),
    "no_agreement": ("已记录：未达成协议。", "Recorded: no agreement."),
    "cancelled": ("会议已取消，已通知受邀群众。", "The session is cancelled and the invited citizens are told."),
    "reissued": ("已发送新的邀请链接，旧链接作废。", "A new link has been sent; the old one no longer works."),
}


def _labels() -> dict:
    return {"roles": ROLE_LABELS, "kinds": KIND_LABELS, "statuses": STATUS_LABELS, "outcomes": OUTCOME_LABELS,
            "invites": INVITE_LABELS, "case_actions": CASE_ACTION_LABELS}


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


@router.get("/mediation", include_in_schema=False)
def my_sessions(request: Request, console: Mediator, done: str | None = None):
    """List the sessions I host or am invited to (supervisors: all), with a Join button for the open ones."""
    with transaction(request) as session:
        rows = mediation.list_sessions(session, actor=console.actor)
        tracking = dict(session.execute(select(Petition.id, Petition.tracking_no).where(
            Petition.id.in_({ms.petition_id for ms in rows}))).all()) if rows else {}
        items = [{"ms": ms, "tracking_no": tracking.get(ms.petition_id), "mine": any(
            p.username == console.actor.name and p.removed_at is None for p in ms.participants)} for ms in rows]
    now = utcnow()
    upcoming = [i for i in items if i["ms"].status in mediation.OPEN]
    upcoming.sort(key=lambda i: i["ms"].starts_at)
    past = [i for i in items if i["ms"].status not in mediation.OPEN]
    return render(request, "mediation/list.html", console, upcoming=upcoming, past=past, labels=_labels(), now=now,
                  flash=_done(console, done))


def _done(console: Console, done: str | None) -> str | None:
    pair = DONE.get(done or "")
    return None if pair is None else (pair[1] if console.lang == "en" else pair[0])


def _staff_choices(session) -> list[User]:
    roles = [Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN]
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(roles)).order_by(User.username)))


def _default_rows(petition: Petition | None) -> list[dict]:
    rows = [{"role": "petitioner", "name": "", "username": "", "organisation": "", "phone": "", "party": ""}]
    if petition is not None and petition.lead_unit is not None:
        rows.append({"role": "administrative", "name": "", "username": "", "organisation": petition.lead_unit.name,
                     "phone": "", "party": ""})
    while len(rows) < ROWS:
        rows.append({"role": "", "name": "", "username": "", "organisation": "", "phone": "", "party": ""})
    return rows


def _form(request: Request, console: Console, *, case: str, draft: dict | None = None, error: str | None = None,
          status_code: int = 200):
    petition = None
    with transaction(request) as session:
        if case:
            try:
                petition = access(session, case.strip().upper(), console.actor)
            except CaseError:
                error = error or (f"没有信访件 {case}，或您无权查看。" if console.lang != "en"
                                  else f"No petition {case}, or not one you may see.")
                status_code = status_code if status_code != 200 else 404
        staff = _staff_choices(session)
        petitioner = None
        if petition is not None and petition.petitioner is not None:
            petitioner = {"name": petition.petitioner.name, "phone": petition.petitioner.phone}
        facts = None if petition is None else {
            "tracking_no": petition.tracking_no, "title": petition.title, "status": petition.status,
            "collective": petition.is_collective, "head_count": petition.head_count, "channel": petition.channel,
            "lead_unit": petition.lead_unit.name if petition.lead_unit else None}
        rows = _default_rows(petition)
    start = (utcnow() + timedelta(days=1)).astimezone(_tz()).replace(hour=9, minute=30)
    draft = draft or {"kind": Kind.JOINT.value, "date": start.strftime("%Y-%m-%d"), "time": start.strftime("%H:%M"),
                      "duration": "60", "title": "", "host": console.actor.name, "rows": rows}
    return render(request, "mediation/new.html", console, status_code=status_code, case=case, facts=facts, staff=staff,
                  petitioner=petitioner, draft=draft, labels=_labels(), roles=list(ParticipantRole), kinds=list(Kind),
                  parties=PARTIES, error=error, may_choose_host=console.role in mediation.MANAGERS,
                  max_reps=5)


@router.get("/mediation/new", include_in_schema=False)
def new_session(request: Request, console: Mediator, case: str = ""):
    """Show the form to schedule a video reception or joint mediation for a case."""
    return _form(request, console, case=case)


def _parse_rows(form) -> tuple[list[dict], list[dict]]:
    """Return the participant rows as typed in (to redraw the form) and those that name someone."""
    typed, chosen = [], []
    for i in range(ROWS):
        row = {key: (form.get(f"{key}_{i}") or "").strip() for key in ("role", "username", "name", "organisation",
                                                                        "phone", "party")}
        typed.append(row)
        if not row["role"]:
            continue
        if not (row["username"] or row["name"]) and row["role"] != ParticipantRole.PETITIONER:
            continue
        item = {"role": row["role"], "username": row["username"] or None, "name": row["name"] or None,
                "organisation": row["organisation"] or None, "phone": row["phone"] or None}
        if row["party"] in ("yes", "no"):
            item["party"] = row["party"] == "yes"
        chosen.append(item)
    return typed, chosen


def _starts_at(date: str, time: str) -> datetime:
    try:
        naive = datetime.strptime(f"{date.strip()} {time.strip()}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise Invalid("give the date (YYYY-MM-DD) and time (HH:MM)") from None
    return naive.replace(tzinfo=_tz())


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())


@router.post("/mediation/new", include_in_schema=False)
async def create_session(request: Request, console: Mediator):
    """Schedule the session, check conflicts and limits, and send the invitations."""
    form = await request.form()
    case = (form.get("case") or "").strip().upper()
    typed, chosen = _parse_rows(form)
    draft = {"kind": form.get("kind") or "", "date": form.get("date") or "", "time": form.get("time") or "",
             "duration": form.get("duration") or "", "title": form.get("title") or "",
             "host": form.get("host") or console.actor.name, "rows": typed}
    host = draft["host"] if console.role in mediation.MANAGERS else console.actor.name
    try:
        try:
            data = SessionCreate.model_validate({
                "tracking_no": case, "kind": draft["kind"], "starts_at": _starts_at(draft["date"], draft["time"]),
                "duration_minutes": draft["duration"] or 60, "title": draft["title"].strip() or None, "host": host,
                "participants": chosen})
        except ValidationError as exc:
            raise Invalid(_problems(exc)) from None
        with transaction(request) as session:
            ms = mediation.create_session(session, data=data, actor=console.actor)
            session_id = ms.id
    except CaseError as exc:
        return _form(request, console, case=case, draft=draft, error=str(exc), status_code=getattr(exc, "status", 400))
    return RedirectResponse(f"/console/mediation/{session_id}?done=scheduled", status_code=303)


def _detail(request: Request, console: Console, session_id: int, *, error: str | None = None, status_code: int = 200,
            done: str | None = None):
    try:
        with transaction(request) as session:
            ms = mediation.access_session(session, session_id, console.actor)
            petition = mediation.petition_of(session, ms)
            manage = mediation.can_manage(ms, console.actor)
            people = []
            for p in ms.participants:
                token = mediation.invite_token(p, ms) if manage or p.username == console.actor.name else None
                people.append({"p": p, "admitted": mediation.is_admitted(p),
                               "confirmed": p.party and ms.terms_version > 0 and p.confirmed_version == ms.terms_version,
                               "link": mediation.join_url(token) if token and manage else None,
                               "manual": p.invite_status == InviteStatus.MANUAL})
            mine = next((p for p in ms.participants if p.username == console.actor.name and p.removed_at is None), None)
            recs = recordings.list_recordings(session, session_id=ms.id)
            context = {"ms": ms, "petition": {"tracking_no": petition.tracking_no, "title": petition.title,
                                              "status": petition.status},
                       "people": people, "manage": manage, "mine": mine, "recordings": recs,
                       "waiting": [p.id for p in agreement.waiting_for(ms)] if ms.terms else [],
                       "expires": mediation.link_expiry(ms)}
    except mediation.SessionNotFound:
        return render(request, "error.html", console, status_code=404, heading=("未找到", "Not found"),
                      detail=("没有此调解会议，或您无权查看。", "No such mediation session, or not one you may see."))
    return render(request, "mediation/session.html", console, status_code=status_code, labels=_labels(), error=error,
                  flash=_done(console, done), open_statuses=mediation.OPEN, **context)


@router.get("/mediation/{session_id}", include_in_schema=False)
def session_page(request: Request, console: Mediator, session_id: int, done: str | None = None):
    """Show a session: participants and their invitations, the agreement and confirmations, the outcome, recordings."""
    return _detail(request, console, session_id, done=done)


@router.get("/mediation/{session_id}/join", include_in_schema=False)
def join(request: Request, console: Mediator, session_id: int):
    """Open the room with my own invitation link."""
    try:
        with transaction(request) as session:
            token = mediation.token_for_staff(session, session_id=session_id, actor=console.actor)
    except CaseError:
        return RedirectResponse(f"/console/mediation/{session_id}", status_code=303)
    return RedirectResponse(mediation.join_path(token), status_code=303)


def _act(request: Request, console: Console, session_id: int, operation, done: str, *, close_room: bool = False,
         notify: bool = False):
    try:
        with transaction(request) as session:
            operation(session)
    except mediation.SessionNotFound:
        return _detail(request, console, session_id)
    except CaseError as exc:
        return _detail(request, console, session_id, error=str(exc), status_code=getattr(exc, "status", 400))
    if close_room:
        rooms.hub.close_all(session_id, {"type": "ended"})
    elif notify:
        rooms.hub.post(session_id, {"type": "agreement"})
    return RedirectResponse(f"/console/mediation/{session_id}?done={done}", status_code=303)


@router.post("/mediation/{session_id}/agreement", include_in_schema=False)
def set_agreement(request: Request, console: Mediator, session_id: int, terms: Annotated[str, Form()] = ""):
    """Write the agreement's terms; each party confirms them through their own link."""
    return _act(request, console, session_id, lambda s: agreement.do_set_agreement(
        s, session_id=session_id, terms=terms, actor=console.actor), "terms", notify=True)


@router.post("/mediation/{session_id}/end", include_in_schema=False)
def end_call(request: Request, console: Mediator, session_id: int):
    """End the video call for everyone; parties may still confirm a pending agreement."""
    return _act(request, console, session_id, lambda s: mediation.do_end_call(s, session_id=session_id,
                                                                              actor=console.actor), "ended", close_room=True)


@router.post("/mediation/{session_id}/no-agreement", include_in_schema=False)
def no_agreement(request: Request, console: Mediator, session_id: int, reason: Annotated[str, Form()] = ""):
    """Record that the session ended without an agreement, and why."""
    return _act(request, console, session_id, lambda s: agreement.do_no_agreement(
        s, session_id=session_id, reason=reason, actor=console.actor), "no_agreement", close_room=True)


@router.post("/mediation/{session_id}/cancel", include_in_schema=False)
def cancel(request: Request, console: Mediator, session_id: int, reason: Annotated[str, Form()] = ""):
    """Cancel a session that has not begun; the invited citizens are told."""
    return _act(request, console, session_id, lambda s: mediation.do_cancel(
        s, session_id=session_id, reason=reason, actor=console.actor), "cancelled", close_room=True)


@router.post("/mediation/{session_id}/reissue", include_in_schema=False)
def reissue(request: Request, console: Mediator, session_id: int, participant: Annotated[str, Form()] = ""):
    """Send a participant a new link (the old one stops working; a removed participant may come back)."""
    def run(s):
        try:
            participant_id = int(participant)
        except ValueError:
            raise Invalid("choose a participant") from None
        mediation.do_reissue_invitation(s, session_id=session_id, participant_id=participant_id, actor=console.actor)
    return _act(request, console, session_id, run, "reissued")
