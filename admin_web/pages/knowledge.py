"""The knowledge base in the console: admins curate entries and promote replies; handlers see suggestions on a case.

The case page (admin_web/pages/cases.py) calls ``case_context`` for its "suggested answers" card and
the promote buttons beside replies; everything else lives under /console/knowledge.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_web.web import ANY_STAFF, Console, render, require
from cases import catalog
from cases.models import Petition
from cases.service import CaseError, NotFound, access, check_visible
from core.accounts import Role
from core.web import transaction
from knowledge import contact, service
from knowledge.models import KnowledgeEntry
from nlu.contact import LABELS as CONTACT_LABELS

router = APIRouter()
Admin = Annotated[Console, Depends(require(Role.ADMIN))]
Staff = Annotated[Console, Depends(require(*ANY_STAFF))]
# Who may correct a petition's contact type on the case page: those who act on petitions.
CORRECTORS = (Role.TRIAGE, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN)
Corrector = Annotated[Console, Depends(require(*CORRECTORS))]

PAGE_SIZE = 30
STATUS_LABELS = {"draft": ("草稿", "Draft"), "published": ("已发布", "Published"), "retired": ("已停用", "Retired")}
KIND_LABELS = {"policy": ("政策与办事指南", "Policy or procedure"), "reply": ("来自答复", "From a reply")}
FLASH = {
    "created": ("知识条目已添加", "Entry added"), "saved": ("知识条目已保存", "Entry saved"),
    "retired": ("知识条目已停用，不再提供给任何人", "Entry retired: it is no longer offered to anyone"),
    "published": ("知识条目已发布，群众咨询时可以看到", "Entry published: citizens who ask are offered it"),
    "promoted": ("已从答复生成草稿，请核对（去除个人信息）后发布",
                 "Draft made from the reply: check it (remove personal details), then publish"),
    "harvested": ("已导入已办结案件的答复", "Replies of closed petitions imported"),
    "backfilled": ("已为没有来件类型的信访件补充类型", "Contact types filled in for older petitions"),
    "contact": ("来件类型已更正", "Contact type corrected"),
}


class FormError(Exception):
    """Problems with a form, each in Chinese and English."""

    def __init__(self, *problems: tuple[str, str]):
        super().__init__("; ".join(en for _, en in problems))
        self.problems = list(problems)


def _flash(request: Request, console: Console) -> str | None:
    done = FLASH.get(request.query_params.get("done", ""))
    if not done:
        return None
    extra = request.query_params.get("n", "")
    text = done[1] if console.lang == "en" else done[0]
    return f"{text}: {extra}" if extra.isdigit() else text


def _page(request: Request, template: str, console: Console, status_code: int = 200, **context):
    return render(request, template, console, status_code=status_code, flash=_flash(request, console),
                  status_labels=STATUS_LABELS, kind_labels=KIND_LABELS, contact_labels=CONTACT_LABELS, **context)


def _not_found(request: Request, console: Console):
    return render(request, "error.html", console, status_code=404, heading=("未找到", "Not found"),
                  detail=("没有这条知识条目。", "No such knowledge-base entry."))


def entry_url(entry_id: int) -> str:
    """Return the console URL of an entry."""
    return f"/console/knowledge/{entry_id}"


# --- the list ------------------------------------------------------------------------------------


@router.get("/knowledge", include_in_schema=False)
def index(request: Request, console: Admin, status: str = "", kind: str = "", q: str = "", expired: str = "",
          page: int = 1, ask: str = ""):
    """List the entries with filters, the counts, the bot's record, and a try-it box showing what a citizen would get."""
    status = status if status in STATUS_LABELS else ""
    kind = kind if kind in KIND_LABELS else ""
    q, ask = q.strip()[:200], ask.strip()[:500]
    page = max(1, min(page, 10_000))
    with transaction(request) as session:
        rows, total = service.list_entries(session, status=status or None, kind=kind or None, text=q or None,
                                           expired={"yes": True, "no": False}.get(expired), limit=PAGE_SIZE,
                                           offset=(page - 1) * PAGE_SIZE)
        tried = service.search(session, ask, k=3, audience="citizen") if ask else []
        filters = {k: v for k, v in (("status", status), ("kind", kind), ("q", q), ("expired", expired)) if v}
        return _page(request, "knowledge/index.html", console, rows=rows, total=total, page=page,
                     pages=max(1, -(-total // PAGE_SIZE)), filters=filters, query=urlencode(filters),
                     counts=service.counts(session), answers=service.answer_stats(session), today=service.today(),
                     ask=ask, tried=tried, source_line=lambda e: service.source_line(e, console.lang))


# Fixed paths first: /knowledge/{entry_id} would otherwise take them.
@router.post("/knowledge/harvest", include_in_schema=False)
def harvest(request: Request, console: Admin):
    """Draw the final replies of closed petitions in as drafts."""
    with transaction(request) as session:
        added = service.do_harvest(session, actor=console.actor)
    return RedirectResponse(f"/console/knowledge?status=draft&done=harvested&n={added}", status_code=303)


@router.post("/knowledge/contact-types/backfill", include_in_schema=False)
def backfill(request: Request, console: Admin):
    """Give petitions registered before contact types existed their type."""
    with transaction(request) as session:
        n = contact.do_backfill(session)
    return RedirectResponse(f"/console/knowledge?done=backfilled&n={n}", status_code=303)


@router.post("/knowledge/promote", include_in_schema=False)
def promote(request: Request, console: Admin, reply_id: Annotated[int, Form()]):
    """Make a draft entry of a petition's reply and open it for checking."""
    try:
        with transaction(request) as session:
            entry = service.do_promote_reply(session, reply_id=reply_id, actor=console.actor)
            entry_id = entry.id
    except service.EntryNotFound:
        return _not_found(request, console)
    return RedirectResponse(f"{entry_url(entry_id)}?done=promoted", status_code=303)


# --- one entry -----------------------------------------------------------------------------------


def _form(entry: KnowledgeEntry | None) -> dict:
    if entry is None:
        return {"question": "", "answer": "", "category": "", "unit": "", "source": "", "issued_on": "",
                "valid_from": "", "valid_until": "", "language": "zh", "status": "published"}
    return {"question": entry.question, "answer": entry.answer, "category": entry.category or "",
            "unit": entry.unit.code if entry.unit else "", "source": entry.source or "",
            "issued_on": entry.issued_on.isoformat() if entry.issued_on else "",
            "valid_from": entry.valid_from.isoformat() if entry.valid_from else "",
            "valid_until": entry.valid_until.isoformat() if entry.valid_until else "", "language": entry.language,
            "status": "published" if entry.status == "retired" else entry.status}


def _day(value: str, what: tuple[str, str], problems: list) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append((f"{what[0]}不是有效日期（YYYY-MM-DD）", f"{what[1]} is not a date (YYYY-MM-DD)"))
        return None


def _data(form: dict) -> service.EntryIn:
    problems: list[tuple[str, str]] = []
    question, answer = form["question"].strip(), form["answer"].strip()
    if len(question) < 2:
        problems.append(("请填写问题", "The question is required"))
    if len(answer) < 2:
        problems.append(("请填写答复", "The answer is required"))
    issued = _day(form["issued_on"], ("发布日期", "The date"), problems)
    start = _day(form["valid_from"], ("生效日期", "Valid from"), problems)
    end = _day(form["valid_until"], ("失效日期", "Valid until"), problems)
    if form["status"] not in ("draft", "published"):
        problems.append(("请选择状态", "Choose a status"))
    if form["language"] not in ("zh", "en"):
        problems.append(("请选择语言", "Choose a language"))
    if problems:
        raise FormError(*problems)
    return service.EntryIn(question=question, answer=answer, category=form["category"].strip() or None,
                           unit=form["unit"].strip() or None, source=form["source"].strip() or None, issued_on=issued,
                           valid_from=start, valid_until=end, language=form["language"], status=form["status"])


def _form_in(question: str, answer: str, category: str, unit: str, source: str, issued_on: str, valid_from: str,
             valid_until: str, language: str, status: str) -> dict:
    return {"question": question, "answer": answer, "category": category, "unit": unit, "source": source,
            "issued_on": issued_on, "valid_from": valid_from, "valid_until": valid_until, "language": language,
            "status": status}


def _form_context(session: Session) -> dict:
    return {"units": catalog.list_units(session, active_only=False), "categories": catalog.list_categories(session, level=1)}


Field = Annotated[str, Form()]


@router.get("/knowledge/new", include_in_schema=False)
def new_entry(request: Request, console: Admin):
    """Show the form for a new entry."""
    with transaction(request) as session:
        return _page(request, "knowledge/entry.html", console, entry=None, form=_form(None), problems=[],
                     **_form_context(session))


@router.post("/knowledge/new", include_in_schema=False)
def create_entry(request: Request, console: Admin, question: Field = "", answer: Field = "", category: Field = "",
                 unit: Field = "", source: Field = "", issued_on: Field = "", valid_from: Field = "",
                 valid_until: Field = "", language: Field = "zh", status: Field = "published"):
    """Add an entry written by an admin."""
    form = _form_in(question, answer, category, unit, source, issued_on, valid_from, valid_until, language, status)
    try:
        with transaction(request) as session:
            entry = service.create_entry(session, data=_data(form), actor=console.actor)
            entry_id = entry.id
    except (FormError, service.KnowledgeError) as exc:
        problems = exc.problems if isinstance(exc, FormError) else [(str(exc), str(exc))]
        with transaction(request) as session:
            return _page(request, "knowledge/entry.html", console, status_code=422, entry=None, form=form,
                         problems=problems, **_form_context(session))
    return RedirectResponse(f"{entry_url(entry_id)}?done=created", status_code=303)


def _entry_context(session: Session, console: Console, entry: KnowledgeEntry) -> dict:
    source_petition = session.get(Petition, entry.source_petition_id) if entry.source_petition_id else None
    return {"entry": entry, "source_petition": source_petition, "source_line": service.source_line(entry, console.lang),
            **_form_context(session)}


@router.get("/knowledge/{entry_id}", include_in_schema=False)
def show_entry(request: Request, console: Admin, entry_id: int):
    """Show an entry's form, its source and how citizens rated it."""
    with transaction(request) as session:
        entry = session.get(KnowledgeEntry, entry_id)
        if entry is None:
            return _not_found(request, console)
        return _page(request, "knowledge/entry.html", console, form=_form(entry), problems=[],
                     **_entry_context(session, console, entry))


@router.post("/knowledge/{entry_id}", include_in_schema=False)
def save_entry(request: Request, console: Admin, entry_id: int, question: Field = "", answer: Field = "",
               category: Field = "", unit: Field = "", source: Field = "", issued_on: Field = "", valid_from: Field = "",
               valid_until: Field = "", language: Field = "zh", status: Field = "published"):
    """Save an entry's fields."""
    form = _form_in(question, answer, category, unit, source, issued_on, valid_from, valid_until, language, status)
    try:
        with transaction(request) as session:
            service.update_entry(session, entry_id=entry_id, data=_data(form), actor=console.actor)
    except service.EntryNotFound:
        return _not_found(request, console)
    except (FormError, service.KnowledgeError) as exc:
        problems = exc.problems if isinstance(exc, FormError) else [(str(exc), str(exc))]
        with transaction(request) as session:
            entry = session.get(KnowledgeEntry, entry_id)
            return _page(request, "knowledge/entry.html", console, status_code=422, form=form, problems=problems,
                         **_entry_context(session, console, entry))
    return RedirectResponse(f"{entry_url(entry_id)}?done=saved", status_code=303)


@router.post("/knowledge/{entry_id}/retire", include_in_schema=False)
def retire_entry(request: Request, console: Admin, entry_id: int, reason: Annotated[str, Form(max_length=2000)] = ""):
    """Retire an entry (it stays for the record)."""
    try:
        with transaction(request) as session:
            service.do_retire(session, entry_id=entry_id, actor=console.actor, reason=reason)
    except service.EntryNotFound:
        return _not_found(request, console)
    return RedirectResponse(f"{entry_url(entry_id)}?done=retired", status_code=303)


@router.post("/knowledge/{entry_id}/publish", include_in_schema=False)
def publish_entry(request: Request, console: Admin, entry_id: int):
    """Publish a draft, or a retired entry again."""
    try:
        with transaction(request) as session:
            service.do_publish(session, entry_id=entry_id, actor=console.actor)
    except service.EntryNotFound:
        return _not_found(request, console)
    return RedirectResponse(f"{entry_url(entry_id)}?done=published", status_code=303)


# --- beside a petition ---------------------------------------------------------------------------


@router.post("/knowledge/petitions/{tracking_no}/contact-type", include_in_schema=False)
def correct_contact_type(request: Request, console: Corrector, tracking_no: str,
                         contact_type: Annotated[str, Form()] = "", reason: Annotated[str, Form(max_length=2000)] = ""):
    """Correct a petition's contact type from its case page."""
    with transaction(request) as session:
        petition = access(session, tracking_no, console.actor)
        try:
            contact.do_set_contact_type(session, petition=petition, contact_type=contact_type, actor=console.actor,
                                        reason=reason.strip() or None)
        except contact.ContactTypeError as exc:
            raise _Invalid(str(exc)) from None
    return RedirectResponse(f"/console/cases/{quote(tracking_no, safe='')}?done=contact#knowledge", status_code=303)


class _Invalid(CaseError):
    status = 422


def case_context(session: Session, petition: Petition, console: Console) -> dict:
    """Return what the case page shows of the knowledge base: suggestions, the contact type, promotable replies."""
    suggestions = []
    for found in service.suggestions_for(session, petition, k=3):
        entry = found.entry
        source_no, visible = None, False
        if entry.source_petition_id:
            other = session.get(Petition, entry.source_petition_id)
            if other is not None:
                source_no = other.tracking_no
                try:
                    check_visible(session, other, console.actor)
                    visible = True
                except NotFound:
                    visible = False
        suggestions.append({"id": entry.id, "kind": entry.kind, "status": entry.status,
                            "question": entry.question.splitlines()[0][:200], "answer": entry.answer,
                            "source_line": service.source_line(entry, console.lang),
                            "similarity": round(found.similarity * 100),
                            "source_no": source_no if visible else None})
    promoted = dict(session.execute(select(KnowledgeEntry.source_reply_id, KnowledgeEntry.id).where(
        KnowledgeEntry.source_reply_id.in_([r.id for r in petition.replies]))).all()) if petition.replies else {}
    return {"suggestions": suggestions, "contact_type": petition.contact_type, "contact_labels": CONTACT_LABELS,
            "can_promote": console.role is Role.ADMIN, "promoted": promoted,
            "can_correct_contact": console.role in CORRECTORS}
