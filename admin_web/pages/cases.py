"""The case page: every fact of one petition, its history, and the actions the viewer's role may take."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_web.pages import knowledge as knowledge_page
from admin_web.web import ANY_STAFF, HOME, PII_ROLES, Console, highlight, person, render, require
from cases import audit, catalog
from cases.enums import TERMINAL, Action, Status
from cases.handling import service as handling
from cases.models import Petition
from cases.schemas import TransitionIn
from cases.service import CaseError, Conflict, Forbidden, Invalid, NotFound, access, check_visible, clock, do_transition
from cases.workflow import MOVES, allowed_actions
from core.accounts import Role
from core.db import utcnow
from core.web import transaction
from mediation.enums import AUDIT_LABELS as MEDIATION_AUDIT_LABELS
from risk.models import PetitionRisk
from routing import service as routing

router = APIRouter()
Staff = Annotated[Console, Depends(require(*ANY_STAFF))]
# Agents and analysts read a case; these roles also act on it.
WRITERS = (Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN)
Writer = Annotated[Console, Depends(require(*WRITERS))]
Handler = Annotated[Console, Depends(require(Role.HANDLER))]
# Attachments carry personal data that analysts see only masked: they may not download them.
PiiViewer = Annotated[Console, Depends(require(*PII_ROLES))]
STAFF_LEADS = frozenset({Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})

ACTION_LABELS: dict[str, tuple[str, str]] = {
    Action.ACCEPT: ("受理", "Accept"), Action.NOT_ACCEPT: ("不予受理", "Do not accept"),
    Action.FORWARD: ("转送", "Forward"), Action.ASSIGN: ("交办", "Assign"), Action.START: ("开始办理", "Start handling"),
    Action.REPLY: ("答复", "Reply"), Action.CLOSE: ("办结", "Close"),
    Action.REQUEST_REVIEW: ("登记复查申请", "Record a review request"), Action.START_REVIEW: ("开始复查", "Start the review"),
    Action.REPLY_REVIEW: ("复查答复", "Reply to the review"),
    Action.REQUEST_REEXAM: ("登记复核申请", "Record a re-examination request"),
    Action.START_REEXAM: ("开始复核", "Start the re-examination"),
    Action.REPLY_REEXAM: ("复核答复", "Reply to the re-examination"),
    Action.EXTEND: ("延长办理期限", "Extend the deadline"), Action.WITHDRAW: ("撤回", "Withdraw"),
    Action.MERGE: ("合并", "Merge"), Action.OBJECT: ("对交办提出异议（退回分办）", "Object to the dispatch (back to triage)"),
}
# Audit actions that are not status-machine actions.
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "register": ("登记", "Registered"), "dispatch": ("自动交办", "Dispatched automatically"),
    "note": ("内部备注", "Internal note"),
    "contact_type": ("更正来件类型", "Contact type corrected"),
    "attach": ("上传附件", "Attachment added"), "extension_requested": ("申请延期", "Extension requested"),
    "extension_approved": ("批准延期", "Extension approved"), "extension_rejected": ("驳回延期", "Extension rejected"),
    "supervision_urge": ("催办", "Urged"), "supervision_supervise": ("督办", "Supervised"),
    "supervision_escalate": ("提级督办", "Escalated"), "supervision_response": ("督办回复", "Supervision answered"),
    "overdue": ("超期", "Overdue"), "recategorise": ("更正分类", "Category corrected"),
    "supplement": ("补充材料", "Supplement"), "feedback": ("评价", "Feedback"),
}
# Mediation writes its own events into the case history (sessions, attendance, agreements).
EVENT_LABELS.update(MEDIATION_AUDIT_LABELS)
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "webchat": ("网页", "Web chat"), "wechat": ("微信公众号", "WeChat"), "miniprogram": ("微信小程序", "Mini-program"),
    "sms": ("短信", "SMS"), "phone": ("电话", "Phone"), "open311": ("Open311", "Open311"), "walk_in": ("来访", "Walk-in"),
    "letter": ("来信", "Letter"), "api": ("接口", "API"),
}
SUPERVISION_LABELS = {"urge": ("催办", "Urge"), "supervise": ("督办", "Supervision"), "escalate": ("提级督办", "Escalation")}
EXTENSION_STATES = {"pending": ("待审批", "Pending"), "approved": ("已批准", "Approved"), "rejected": ("已驳回", "Rejected")}
LINK_KINDS = {"similar": ("相似", "Similar"), "repeat": ("重复信访", "Repeat"), "group": ("疑似群体", "Possible group")}
# What the page says after a successful POST (?done=...): only these keys, never text from the URL.
DONE: dict[str, tuple[str, str]] = {
    **{str(a): (f"已完成：{zh}", f"Done: {en}") for a, (zh, en) in ACTION_LABELS.items()},
    "note": ("备注已保存", "Note saved"), "attachment": ("附件已上传", "Attachment uploaded"),
    "extension": ("延期申请已提交，等待督办人员审批", "Extension requested; a supervisor will decide"),
    "supervision": ("督办回复已提交", "Response to the supervision note sent"),
    "contact": ("来件类型已更正", "Contact type corrected"),  # knowledge base (issue 11)
}
ACTIONS_WITH_CONFIRM = {Action.NOT_ACCEPT, Action.WITHDRAW, Action.MERGE, Action.OBJECT, Action.FORWARD}


def due_state(due: datetime | None, now: datetime) -> str:
    """Return the CSS class for how much time is left before a deadline."""
    if due is None:
        return ""
    left = due - now
    if left < timedelta(0):
        return "due-overdue"
    if left < timedelta(hours=24):
        return "due-critical"
    if left < timedelta(hours=72):
        return "due-soon"
    return "due-ok"


def time_left(due: datetime | None, now: datetime) -> tuple[str, str]:
    """Return "剩余 N 天" / "超期 N 天" (and the English) for a deadline."""
    if due is None:
        return "无期限", "No deadline"
    left = due - now
    if left < timedelta(0):
        over = -left
        if over >= timedelta(days=1):
            return f"超期 {over.days} 天", f"{over.days} day{'s' if over.days != 1 else ''} overdue"
        hours = max(1, math.ceil(over.total_seconds() / 3600))
        return f"超期 {hours} 小时", f"{hours} hour{'s' if hours != 1 else ''} overdue"
    if left >= timedelta(days=1):
        return f"剩余 {left.days} 天", f"{left.days} day{'s' if left.days != 1 else ''} left"
    hours = max(1, math.floor(left.total_seconds() / 3600))
    return f"剩余 {hours} 小时", f"{hours} hour{'s' if hours != 1 else ''} left"


def upload_limit() -> int:
    """Return the largest file an upload can carry (the app lets attachment uploads past its usual body limit)."""
    return handling.MAX_ATTACHMENT_BYTES


def case_url(tracking_no: str) -> str:
    """Return the console URL of a case page."""
    return f"/console/cases/{quote(tracking_no, safe='')}"


def _visible(session: Session, petition: Petition, console: Console) -> bool:
    try:
        check_visible(session, petition, console.actor)
    except NotFound:
        return False
    return True


def may_act(console: Console, petition: Petition, action: Action) -> bool:
    """Tell whether the viewer may take this action on the petition now (workflow, role, lead unit)."""
    if console.role not in WRITERS:
        return False
    move = MOVES[action]
    if console.role not in move.roles or Status(petition.status) not in move.sources:
        return False
    # A handler acts for the lead unit; an assisting unit contributes through notes and attachments.
    return console.role is not Role.HANDLER or petition.lead_unit_id == console.actor.unit_id


def _category_path(node) -> str | None:
    names = []
    while node is not None:
        names.insert(0, node.name)
        node = node.parent
    return " / ".join(names) or None


def _risk(session: Session, petition: Petition):
    risk = session.scalar(select(PetitionRisk).where(PetitionRisk.petition_id == petition.id))
    spans: dict[str, list[tuple[int, int]]] = {"title": [], "content": []}
    for hit in (risk.hits or []) if risk else []:
        try:
            spans.setdefault(hit.get("field") or "content", []).append((int(hit["start"]), int(hit["end"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a malformed hit is not worth losing the page over
    return risk, spans


def _similar(session: Session, petition: Petition, console: Console) -> list[dict]:
    rows = []
    for link, other in routing.list_links(session, petition):
        rows.append({"kind": link.kind, "score": link.score, "visible": _visible(session, other, console),
                     "tracking_no": other.tracking_no, "title": other.title, "status": other.status,
                     "replies": [r.text for r in other.replies]})
    return rows


def _context(session: Session, petition: Petition, console: Console, now: datetime) -> dict:
    """Gather everything the case page shows, as this viewer may see it."""
    p, actor = petition, console.actor
    risk, spans = _risk(session, p)
    who = person(console, p.petitioner.name, p.petitioner.phone) if p.petitioner else None
    id_number = None
    if p.petitioner and p.petitioner.id_number:
        number = p.petitioner.id_number
        id_number = number if console.sees_pii else number[:4] + "*" * 10 + number[-4:]
    extensions = handling.list_case_extensions(session, petition=p)
    pending_extension = any(e.state == "pending" for e in extensions)
    actions = [a for a in allowed_actions(p.status) if may_act(console, p, a)]
    can_request_extension = (console.role is Role.HANDLER and p.lead_unit_id == actor.unit_id
                             and Status(p.status) in (Status.ACCEPTED, Status.ASSIGNED, Status.IN_PROGRESS)
                             and not p.extension_days and not pending_extension)
    supervision = [n for n, _ in handling.list_supervision(session, petition=p)]
    merged_into = session.get(Petition, p.merged_into_id).tracking_no if p.merged_into_id else None
    return {
        "p": p, "now": now, "risk": risk, "title_html": highlight(p.title, spans.get("title", [])),
        "content_html": highlight(p.content, spans.get("content", [])), "who": who, "id_number": id_number,
        "category": _category_path(p.category), "decision": routing.get_decision(session, p),
        "similar": _similar(session, p, console), "notes": handling.list_notes(session, petition=p),
        "attachments": handling.list_attachments(session, petition=p), "extensions": extensions,
        "supervision": supervision, "history": audit.list_for_petition(session, p.id),
        "templates": handling.list_templates(session, kind="reply") if actions else [],
        "units": catalog.list_units(session) if Action.ASSIGN in actions else [],
        "actions": actions, "moves": MOVES, "can_write": console.role in WRITERS,
        "can_request_extension": can_request_extension, "extension_limit": clock().period("extension_max").amount,
        "merged_into": merged_into, "upload_limit_mb": round(upload_limit() / (1024 * 1024), 1),
        "upload_types": ",".join(sorted(handling.ALLOWED_TYPES)), "terminal": Status(p.status) in TERMINAL,
        "due_state": due_state, "time_left": time_left, "case_url": case_url,
        "action_labels": ACTION_LABELS, "event_labels": EVENT_LABELS, "channel_labels": CHANNEL_LABELS,
        "supervision_labels": SUPERVISION_LABELS, "extension_states": EXTENSION_STATES, "link_kinds": LINK_KINDS,
        "confirm_actions": ACTIONS_WITH_CONFIRM,
        # Knowledge base (issue 11): suggested answers, the contact type, promotable replies.
        "kb": knowledge_page.case_context(session, p, console),
    }


def show(request: Request, console: Console, tracking_no: str, *, status_code: int = 200,
         error: str | None = None, draft: dict | None = None, done: str | None = None):
    """Render the case page (a 404 page when the viewer may not see the case)."""
    flash, kind = None, None
    if error:
        flash, kind = error, "error"
    elif done in DONE:
        zh, en = DONE[done]
        flash, kind = (en if console.lang == "en" else zh), "ok"
    with transaction(request) as session:
        petition = access(session, tracking_no, console.actor)
        return render(request, "cases/case.html", console, status_code=status_code, flash=flash, flash_kind=kind,
                      draft=draft or {}, **_context(session, petition, console, utcnow()))


def _refused(request: Request, console: Console, tracking_no: str, exc: CaseError, draft: dict | None = None):
    """Show the case page again with why the request was refused; a case the viewer may not see stays a 404."""
    # show() fetches the case with access() again, so a hidden or unknown case raises NotFound before anything renders.
    prefix = "Could not be done: " if console.lang == "en" else "无法完成："
    return show(request, console, tracking_no, status_code=getattr(exc, "status", 400), error=prefix + str(exc),
                draft=draft)


def _after(console: Console, tracking_no: str, done: str, still_visible: bool, anchor: str = "") -> RedirectResponse:
    # A handler whose unit objected no longer sees the case: send them home instead of to a 404.
    target = case_url(tracking_no) if still_visible else HOME[console.role]
    return RedirectResponse(f"{target}?done={quote(done)}{anchor if still_visible else ''}", status_code=303)


@router.get("/cases/{tracking_no}", include_in_schema=False)
def case_page(request: Request, console: Staff, tracking_no: str, done: str | None = None):
    """Show one petition with its facts, history and the actions the viewer may take."""
    return show(request, console, tracking_no, done=done)


def _change(action: Action, *, reason: str, text: str, to: str, unit: str, assisting: list[str], days: str,
            target: str) -> TransitionIn:
    """Build the transition request of a form, or raise Invalid with what is wrong."""
    number = None
    if days.strip():
        try:
            number = int(days)
        except ValueError:
            raise Invalid("days must be a whole number") from None
    try:
        return TransitionIn(
            action=action, reason=reason.strip() or None,
            text=(to.strip() if action is Action.FORWARD else text.strip()) or None,
            unit=unit.strip() or None, assisting=[u for u in assisting if u and u != unit],
            days=number, target=target.strip().upper() or None)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Invalid(problems) from None


@router.post("/cases/{tracking_no}/actions", include_in_schema=False)
def act(request: Request, console: Writer, tracking_no: str, action: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "", to: Annotated[str, Form()] = "",
        unit: Annotated[str, Form()] = "", assisting: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
        days: Annotated[str, Form()] = "", target: Annotated[str, Form()] = ""):
    """Take one action of the status machine on the petition."""
    draft = {"action": action, "reason": reason, "text": text, "to": to, "unit": unit, "assisting": assisting,
             "days": days, "target": target}
    try:
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            try:
                chosen = Action(action)
            except ValueError:
                raise Invalid(f"unknown action {action!r}") from None
            if not may_act(console, petition, chosen):
                # The same order as do_transition: who may act first, then whether the status allows it.
                if console.role in MOVES[chosen].roles and Status(petition.status) not in MOVES[chosen].sources \
                        and (console.role is not Role.HANDLER or petition.lead_unit_id == console.actor.unit_id):
                    raise Conflict(f"cannot {chosen} a petition that is {petition.status}")
                raise Forbidden(f"your role or unit may not {chosen} this petition")
            change = _change(chosen, reason=reason, text=text, to=to, unit=unit, assisting=assisting, days=days,
                             target=target)
            do_transition(session, tracking_no=petition.tracking_no, change=change, actor=console.actor)
            visible = _visible(session, petition, console)
    except CaseError as exc:
        return _refused(request, console, tracking_no, exc, draft)
    return _after(console, tracking_no, str(chosen), visible)


@router.post("/cases/{tracking_no}/notes", include_in_schema=False)
def add_note(request: Request, console: Writer, tracking_no: str, text: Annotated[str, Form()] = ""):
    """Add an internal note to the case."""
    try:
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            handling.create_note(session, petition=petition, text=text, actor=console.actor)
    except CaseError as exc:
        return _refused(request, console, tracking_no, exc, {"note": text})
    return _after(console, tracking_no, "note", True, "#notes")


@router.post("/cases/{tracking_no}/attachments", include_in_schema=False)
def upload(request: Request, console: Writer, tracking_no: str, file: Annotated[UploadFile | None, File()] = None):
    """Attach an uploaded file to the case."""
    try:
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            if file is None or not file.filename:
                raise Invalid("choose a file to upload")
            # Read one byte past the limit: enough to refuse an oversized file without holding all of it.
            data = file.file.read(handling.MAX_ATTACHMENT_BYTES + 1)
            handling.create_attachment(session, petition=petition, filename=file.filename,
                                       content_type=file.content_type or "", data=data, actor=console.actor)
    except CaseError as exc:
        return _refused(request, console, tracking_no, exc, {"upload": True})
    return _after(console, tracking_no, "attachment", True, "#attachments")


def _disposition(filename: str) -> str:
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/cases/{tracking_no}/attachments/{attachment_id}", include_in_schema=False)
def download(request: Request, console: PiiViewer, tracking_no: str, attachment_id: int):
    """Send an attachment as a download, never rendered inline."""
    with transaction(request) as session:
        petition = access(session, tracking_no, console.actor)
        row = handling.get_attachment(session, petition=petition, attachment_id=attachment_id)
        data, content_type, filename = row.data, row.content_type, row.filename
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": _disposition(filename), "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "no-store"})


@router.post("/cases/{tracking_no}/extension-requests", include_in_schema=False)
def request_extension(request: Request, console: Handler, tracking_no: str, days: Annotated[str, Form()] = "",
                      reason: Annotated[str, Form()] = ""):
    """Ask a supervisor to extend the handling period."""
    draft = {"extension_days": days, "extension_reason": reason}
    try:
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            if petition.lead_unit_id != console.actor.unit_id:
                raise Forbidden("only the lead unit asks for an extension")
            try:
                number = int(days)
            except ValueError:
                raise Invalid("days must be a whole number") from None
            handling.do_request_extension(session, petition=petition, days=number, reason=reason, actor=console.actor)
    except CaseError as exc:
        return _refused(request, console, tracking_no, exc, draft)
    return _after(console, tracking_no, "extension", True, "#extensions")


@router.post("/cases/{tracking_no}/supervision/{note_id}/response", include_in_schema=False)
def respond_supervision(request: Request, console: Handler, tracking_no: str, note_id: int,
                        text: Annotated[str, Form()] = ""):
    """Answer a supervision note addressed to the handler's unit."""
    try:
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            handling.do_respond_supervision(session, petition=petition, note_id=note_id, text=text, actor=console.actor)
    except CaseError as exc:
        return _refused(request, console, tracking_no, exc, {"supervision": note_id, "response": text})
    return _after(console, tracking_no, "supervision", True, "#supervision")
