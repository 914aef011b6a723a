"""Admin pages for the sensitive-keyword lexicon (/admin/lexicon)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin_web.pages.admin.common import Admin, Text, _checked, _done, _not_found, _page, router
from admin_web.web import Console
from core.web import transaction
from risk import lexicon
from risk.models import SensitiveTerm


def _lexicon_page(request: Request, console: Console, session: Session, *, klass: str | None, form: dict | None = None,
                  status_code: int = 200, problems: list | None = None, bulk: str = "", import_problems=None,
                  imported: int | None = None):
    klass = klass if klass in lexicon.CLASSES else None
    counts = dict(session.execute(select(SensitiveTerm.klass, func.count()).group_by(SensitiveTerm.klass)).all())
    return _page(request, "admin/lexicon.html", console, status_code=status_code, problems=problems,
                 terms=lexicon.list_terms(session, klass=klass), klass=klass, counts=counts,
                 form=form or {"term": "", "klass": klass or "other", "weight": "1"}, bulk=bulk,
                 import_problems=import_problems or [], imported=imported)


def _lexicon_url(klass: str | None) -> str:
    return f"/console/admin/lexicon?klass={klass}" if klass in lexicon.CLASSES else "/console/admin/lexicon"


@router.get("/admin/lexicon", include_in_schema=False)
def lexicon_list(request: Request, console: Admin, klass: str | None = None):
    """List the lexicon, optionally of one class, with forms to add and import terms."""
    with transaction(request) as session:
        return _lexicon_page(request, console, session, klass=klass)


@router.post("/admin/lexicon", include_in_schema=False)
def term_create(request: Request, console: Admin, term: Text = "", klass: Text = "", weight: Text = "", filter: Text = ""):
    """Add a term."""
    form = {"term": term, "klass": klass, "weight": weight}
    with transaction(request) as session:
        try:
            lexicon.create_term(session, term=term, klass=klass, weight=weight, actor=console.actor)
        except lexicon.LexiconError as exc:
            session.rollback()
            return _lexicon_page(request, console, session, klass=filter or None, form=form, status_code=exc.status,
                                 problems=[(exc.zh, exc.en)])
    return _done(_lexicon_url(filter), "term-created")


@router.post("/admin/lexicon/import", include_in_schema=False)
def term_import(request: Request, console: Admin, lines: Text = "", filter: Text = ""):
    """Add many terms, one "term,class,weight" a line; good lines are kept and bad ones reported."""
    with transaction(request) as session:
        added, bad = lexicon.import_terms(session, text=lines, actor=console.actor)
        if bad:
            # Only the lines still to fix go back into the box.
            return _lexicon_page(request, console, session, klass=filter or None, status_code=200 if added else 422,
                                 bulk="\n".join(p.line for p in bad), import_problems=bad, imported=len(added))
    return _done(_lexicon_url(filter), "terms-imported")


@router.get("/admin/lexicon/{term_id}", include_in_schema=False)
def term_edit(request: Request, console: Admin, term_id: int):
    """Show a term's form."""
    with transaction(request) as session:
        row = session.get(SensitiveTerm, term_id)
        if row is None:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
        form = {"term": row.term, "klass": row.klass, "weight": f"{row.weight:g}", "active": row.active}
        return _page(request, "admin/term_form.html", console, row=row, form=form)


@router.post("/admin/lexicon/{term_id}", include_in_schema=False)
def term_update(request: Request, console: Admin, term_id: int, term: Text = "", klass: Text = "", weight: Text = "",
                active: Text = ""):
    """Save a term's text, class, weight and whether it is in use."""
    form = {"term": term, "klass": klass, "weight": weight, "active": _checked(active)}
    with transaction(request) as session:
        try:
            lexicon.update_term(session, term_id=term_id, term=term, klass=klass, weight=weight, active=form["active"])
        except lexicon.LexiconError as exc:
            session.rollback()
            row = session.get(SensitiveTerm, term_id)
            if row is None:
                return _not_found(request, console, "没有这个词条", f"No term {term_id}")
            return _page(request, "admin/term_form.html", console, status_code=exc.status, problems=[(exc.zh, exc.en)],
                         row=row, form=form)
    return _done(_lexicon_url(klass), "term-saved")


@router.post("/admin/lexicon/{term_id}/active", include_in_schema=False)
def term_active(request: Request, console: Admin, term_id: int, active: Text = "", filter: Text = ""):
    """Switch a term on or off."""
    with transaction(request) as session:
        row = session.get(SensitiveTerm, term_id)
        if row is None:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
        row.active = _checked(active)
        key = "term-on" if row.active else "term-off"
    return _done(_lexicon_url(filter), key)


@router.post("/admin/lexicon/{term_id}/delete", include_in_schema=False)
def term_delete(request: Request, console: Admin, term_id: int, filter: Text = ""):
    """Delete a term."""
    with transaction(request) as session:
        try:
            lexicon.delete_term(session, term_id=term_id)
        except lexicon.LexiconError:
            return _not_found(request, console, "没有这个词条", f"No term {term_id}")
    return _done(_lexicon_url(filter), "term-deleted")
