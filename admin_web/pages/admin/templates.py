"""Admin pages for reply templates and canned responses (/admin/templates)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from admin_web.pages.admin.common import (
    TEMPLATE_KINDS,
    Admin,
    FormError,
    Text,
    _check,
    _done,
    _length,
    _not_found,
    _page,
    _problems,
    router,
)
from admin_web.web import Console
from cases.handling import service as handling
from cases.service import CaseError
from core.web import transaction


def _templates_page(request: Request, console: Console, session: Session, *, form: dict | None = None,
                    status_code: int = 200, problems: list | None = None):
    return _page(request, "admin/templates.html", console, status_code=status_code, problems=problems,
                 groups=[(kind, handling.list_templates(session, kind=kind)) for kind in TEMPLATE_KINDS],
                 form=form or {"kind": "reply", "name": "", "language": "zh", "text": ""})


@router.get("/admin/templates", include_in_schema=False)
def templates(request: Request, console: Admin):
    """List reply templates and canned responses with a form to add one."""
    with transaction(request) as session:
        return _templates_page(request, console, session)


@router.post("/admin/templates", include_in_schema=False)
def template_create(request: Request, console: Admin, kind: Text = "", name: Text = "", language: Text = "zh",
                    text: Text = ""):
    """Add a reply template or canned response."""
    form = {"kind": kind, "name": name, "language": language, "text": text}
    problems: list[tuple[str, str]] = []
    if kind not in TEMPLATE_KINDS:
        problems.append(("请选择模板类型", "Choose the kind of template"))
    _length(name, ("模板名称", "The name"), 1, 100, problems)
    _length(text, ("模板内容", "The text"), 1, 5000, problems)
    if language not in ("zh", "en"):
        problems.append(("语言须为中文或英文", "The language must be Chinese or English"))
    with transaction(request) as session:
        try:
            _check(problems)
            handling.create_template(session, kind=kind, name=name, text=text, language=language, actor=console.actor)
        except (FormError, CaseError) as exc:
            session.rollback()
            problems = _problems(exc)
            return _templates_page(request, console, session, form=form, status_code=422, problems=problems)
    return _done("/console/admin/templates", "template-created")


@router.post("/admin/templates/{template_id}/delete", include_in_schema=False)
def template_delete(request: Request, console: Admin, template_id: int):
    """Delete a reply template or canned response."""
    with transaction(request) as session:
        try:
            handling.delete_template(session, template_id=template_id)
        except CaseError:
            return _not_found(request, console, "没有这个模板", f"No template {template_id}")
    return _done("/console/admin/templates", "template-deleted")
