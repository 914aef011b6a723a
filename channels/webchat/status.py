"""The public status page: a citizen enters the tracking number and query code and sees progress and replies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.templating import Jinja2Templates

from cases import service
from cases.enums import STATUS_LABELS, Status
from cases.schemas import TRACKING_NO
from core.settings import get_settings
from core.web import transaction

router = APIRouter(include_in_schema=False)
# Autoescaped: replies and unit names are shown as text, never as markup.
_templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True))


def _page(request: Request, status_code: int = 200, **context):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(get_settings().timezone)
    response = _templates.TemplateResponse(request, "status.html", {
        "fmt": lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—", **context},
        status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'"
    return response


@router.get("/status")
def status_form(request: Request):
    """Show the status lookup form."""
    return _page(request, petition=None, error=None, tracking_no="")


@router.post("/status")
def status_lookup(request: Request, tracking_no: Annotated[str, Form(max_length=40)] = "",
                  code: Annotated[str, Form(max_length=40)] = ""):
    """Look a petition up by tracking number and query code (posted, so the code stays out of URLs and logs)."""
    tracking_no, code = tracking_no.strip().upper(), code.strip().upper()
    if not re.fullmatch(TRACKING_NO, tracking_no) or not 4 <= len(code) <= 16:
        return _page(request, 400, petition=None, tracking_no=tracking_no,
                     error=("请填写正确的受理编号和查询码。", "Enter a valid tracking number and query code."))
    try:
        with transaction(request) as session:
            p = service.access_public(session, tracking_no, code)
            zh, en = STATUS_LABELS[Status(p.status)]
            petition = {"tracking_no": p.tracking_no, "status_zh": zh, "status_en": en, "received_at": p.received_at,
                        "due_at": p.due_at, "unit": p.lead_unit.name if p.lead_unit else None,
                        "unit_en": p.lead_unit.name_en if p.lead_unit else None, "title": p.title,
                        "replies": [{"kind": r.kind, "text": r.text, "at": r.created_at,
                                     "unit": r.unit.name if r.unit else None} for r in p.replies]}
    except service.NotFound:
        return _page(request, 404, petition=None, tracking_no=tracking_no,
                     error=("没有找到与该受理编号和查询码相符的信访件。",
                            "No petition matches this tracking number and query code."))
    return _page(request, petition=petition, error=None, tracking_no=tracking_no)
