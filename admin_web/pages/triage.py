"""The triage desk (分办): petitions waiting for a person to choose the unit, and the actions that settle them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_web.web import Console, render, require
from cases import catalog
from cases import service as cases
from cases.enums import TERMINAL, Action, Channel, Status
from cases.models import AuditEvent, Petition
from cases.schemas import TransitionIn
from core.accounts import Role
from core.web import transaction
from nlu.contact import LABELS as CONTACT_LABELS
from routing import service as routing

router = APIRouter()
Triage = Annotated[Console, Depends(require(Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN))]

# One page of the queue: each item renders its evidence and unit lists, so a page stays small.
PAGE_SIZE = 50
EXCERPT_CHARS = 120
REASON_MAX = 2000
TRACKING_NO = re.compile(r"^XF-\d{8}-\d{6}$")
UNIT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
AREA_PREFIX = re.compile(r"^\d{2,12}$")

CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    Channel.WEBCHAT: ("网页", "Web chat"), Channel.WECHAT: ("微信公众号", "WeChat"),
    Channel.MINIPROGRAM: ("微信小程序", "Mini-program"), Channel.SMS: ("短信", "SMS"), Channel.PHONE: ("电话", "Phone"),
    Channel.OPEN311: ("Open311", "Open311"), Channel.WALK_IN: ("来访", "Walk-in"), Channel.LETTER: ("来信", "Letter"),
    Channel.API: ("接口", "API"),
}
# SimilarLink.kind: repeat = the same petitioner again; group = others on the same issue in the same area.
LINK_KINDS: dict[str, tuple[str, str]] = {
    "repeat": ("重复信访", "Repeat (same petitioner)"), "group": ("疑似群体", "Possible collective"),
    "duplicate": ("疑似重复", "Possible duplicate"), "similar": ("相似", "Similar"),
}
DONE: dict[str, tuple[str, str]] = {
    "assign": ("{no} 已交办给 {unit}", "{no} assigned to {unit}"),
    "merge": ("{no} 已合并到 {target}", "{no} merged into {target}"),
    "forward": ("{no} 已转送", "{no} forwarded"),
    "not_accept": ("{no} 已不予受理", "{no} not accepted"),
    "route": ("{no} 已重新分析", "{no} routed again"),
}


class Refused(Exception):
    """An action the desk turns down with a message; nothing was changed."""

    def __init__(self, status: int, zh: str, en: str):
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    area: str = ""
    objected: bool = False
    page: int = 1

    @classmethod
    def parse(cls, channel: str = "", area: str = "", objected: str = "", page: str = "") -> Filters:
        """Return the filters with unknown values dropped (and page 1 for a page that is not a number)."""
        channel = channel if channel in CHANNEL_LABELS else ""
        area = area.strip()
        number = int(page) if page.isdigit() and len(page) <= 6 else 1
        return cls(channel, area if AREA_PREFIX.match(area) else "", objected in ("1", "on", "true", "yes"),
                   max(number, 1))

    @classmethod
    def from_query(cls, query: str) -> Filters:
        """Return the filters carried in a form's ``back`` field."""
        values = dict(parse_qsl(query or "", keep_blank_values=False))
        return cls.parse(values.get("channel", ""), values.get("area", ""), values.get("objected", ""),
                         values.get("page", ""))

    @property
    def active(self) -> bool:
        """Tell whether any filter (not the page) narrows the queue."""
        return bool(self.channel or self.area or self.objected)

    def query(self, *, page: int | None = None) -> str:
        """Return the filters and the page (or another page) as a query string (without the ``?``)."""
        number = self.page if page is None else page
        pairs = [("channel", self.channel), ("area", self.area), ("objected", "1" if self.objected else ""),
                 ("page", str(number) if number > 1 else "")]
        return urlencode([(k, v) for k, v in pairs if v])

    @property
    def area_prefix(self) -> str:
        """Return the area code prefix the filter stands for."""
        # A city code such as 430100 stands for all of its districts.
        return self.area[:4] if len(self.area) == 6 and self.area.endswith("00") else self.area


def _objections(session: Session, petition_ids: list[int]) -> dict[int, AuditEvent]:
    """Return the latest objection event of each petition that has one."""
    if not petition_ids:
        return {}
    latest: dict[int, AuditEvent] = {}
    rows = session.scalars(select(AuditEvent).where(AuditEvent.petition_id.in_(petition_ids), AuditEvent.action == "object")
                           .order_by(AuditEvent.seq))
    for event in rows:
        latest[event.petition_id] = event
    return latest


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _item(session: Session, petition: Petition, decision, objection: AuditEvent | None, units: list) -> dict:
    suggestions = list(decision.suggestions or [])[:3] if decision else []
    suggested = [s["unit"] for s in suggestions]
    by_code = {u.code: u for u in units}
    objected_unit = (objection.data or {}).get("from_unit") if objection else None
    # Pre-select the best suggestion, but not the unit that has just sent the petition back.
    preselect = next((s["unit"] for s in suggestions if s["unit"] != objected_unit), None)
    links = routing.list_links(session, petition)
    candidates = [other for _, other in links if Status(other.status) not in TERMINAL and other.id != petition.id]
    repeat_of = session.get(Petition, decision.repeat_of_id) if decision and decision.repeat_of_id else None
    return {
        "p": petition, "no": petition.tracking_no, "decision": decision, "suggestions": suggestions,
        "excerpt": _excerpt(petition.content), "links": links, "candidates": candidates, "repeat_of": repeat_of,
        "objection": objection, "objected_unit": objected_unit, "preselect": preselect,
        "suggested": suggested, "registered": petition.status == Status.REGISTERED,
        # The suggested units head the select lists, best first; then every other active unit.
        "suggested_units": [by_code[code] for code in suggested if code in by_code],
        "other_units": [u for u in units if u.code not in suggested],
    }


@dataclass(frozen=True)
class Page:
    """One page of the queue: its items, how many match the filters, how many wait in all."""

    items: list[dict]
    matching: int
    waiting: int
    number: int
    pages: int


def _queue(session: Session, filters: Filters) -> Page:
    """Return the page of the queue the filters ask for (the last page if they ask beyond it)."""
    criteria = {"channel": filters.channel or None, "area_prefix": filters.area_prefix or None,
                "objected": filters.objected}
    matching = routing.count_triage(session, **criteria)
    waiting = routing.count_triage(session) if filters.active else matching
    pages = max(1, -(-matching // PAGE_SIZE))
    number = min(filters.page, pages)
    rows = routing.list_triage(session, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, **criteria)
    units = _unit_options(session)
    objections = _objections(session, [p.id for p, _ in rows if p.status == Status.ACCEPTED])
    items = [_item(session, petition, decision, objections.get(petition.id), units) for petition, decision in rows]
    return Page(items, matching, waiting, number, pages)


def _unit_options(session: Session) -> list:
    levels = {"city": 0, "district": 1, "street": 2}
    return sorted(catalog.list_units(session), key=lambda u: (levels.get(u.level, 3), u.code))


def _areas(session: Session) -> list:
    return [a for a in catalog.list_areas(session) if a.level in ("city", "district")]


def _flash(session: Session, lang: str, done: str, no: str, unit: str, target: str) -> str | None:
    if done not in DONE or not TRACKING_NO.match(no):
        return None
    label = unit
    if unit and UNIT_CODE.match(unit):
        found = catalog.get_unit_by_code(session, unit)
        if found is not None:
            label = (found.name_en or found.name) if lang == "en" else found.name
    else:
        label = ""
    zh, en = DONE[done]
    text = en if lang == "en" else zh
    return text.format(no=no, unit=label or "—", target=target if TRACKING_NO.match(target or "") else "—")


def _render(request: Request, console: Console, session: Session, filters: Filters, *, status_code: int = 200,
            flash: str | None = None, flash_kind: str = "ok", error: dict | None = None):
    page = _queue(session, filters)
    # Actions come back to the page they were taken on; the page number the queue really showed.
    filters = Filters(filters.channel, filters.area, filters.objected, page.number)
    return render(request, "triage/queue.html", console, status_code=status_code, items=page.items, page=page,
                  contact_labels=CONTACT_LABELS, filters=filters, back=filters.query(), areas=_areas(session),
                  channels=CHANNEL_LABELS, link_kinds=LINK_KINDS, flash=flash, flash_kind=flash_kind, error=error or {},
                  page_size=PAGE_SIZE)


@router.get("/triage", include_in_schema=False)
def queue(request: Request, console: Triage, channel: str = "", area: str = "", objected: str = "", page: str = "",
          done: str = "", no: str = "", unit: str = "", target: str = ""):
    """Show the petitions that wait for a person to choose the unit, with the router's suggestions, a page at a time."""
    filters = Filters.parse(channel, area, objected, page)
    with transaction(request) as session:
        return _render(request, console, session, filters, flash=_flash(session, console.lang, done, no, unit, target))


def _reason(value: str, zh_what: str, en_what: str) -> str:
    reason = (value or "").strip()
    if not reason:
        raise Refused(422, f"请填写{zh_what}", f"{en_what} is required")
    if len(reason) > REASON_MAX:
        raise Refused(422, f"{zh_what}不能超过{REASON_MAX}字", f"{en_what} must be at most {REASON_MAX} characters")
    return reason


def _transition(session: Session, console: Console, tracking_no: str, **change) -> Petition:
    try:
        move = TransitionIn(**change)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Refused(422, f"输入有误：{first['loc'][-1]}", f"Invalid input: {first['loc'][-1]} ({first['msg']})") from None
    return cases.do_transition(session, tracking_no=tracking_no, change=move, actor=console.actor)


def _act(request: Request, console: Console, tracking_no: str, action: str, back: str,
         work: Callable[[Session, Petition], dict], draft: dict) -> object:
    """Run one desk action in one transaction; on refusal re-render the queue with the message, unchanged."""
    filters = Filters.from_query(back)
    try:
        with transaction(request) as session:
            petition = cases.get_by_tracking_no(session, tracking_no)  # NotFound -> the 404 page
            extra = work(session, petition)
    except Refused as exc:
        message = (exc.zh, exc.en)
        status = exc.status
    except cases.NotFound:
        raise
    except cases.CaseError as exc:
        message = (f"无法完成：{exc}", f"Could not be done: {exc}")
        status = getattr(exc, "status", 400)
    else:
        query = [("done", action), ("no", tracking_no), *extra.items()]
        sep = "&" if filters.query() else ""
        return RedirectResponse(f"/console/triage?{filters.query()}{sep}{urlencode(query)}#queue", status_code=303)
    zh, en = message
    with transaction(request) as session:
        return _render(request, console, session, filters, status_code=status, flash=en if console.lang == "en" else zh,
                       flash_kind="error", error={"no": tracking_no, "action": action, "zh": zh, "en": en, **draft})


@router.post("/triage/{tracking_no}/assign", include_in_schema=False)
def assign(request: Request, console: Triage, tracking_no: str, unit: Annotated[str, Form()] = "",
           assisting: Annotated[list[str], Form()] = [], reason: Annotated[str, Form()] = "",  # noqa: B006
           back: Annotated[str, Form()] = ""):
    """Give the petition to a lead unit (and assisting units), accepting it first if it is only registered."""
    def work(session: Session, petition: Petition) -> dict:
        lead = unit.strip()
        if not lead:
            raise Refused(422, "请选择主办单位", "Choose the lead unit")
        helpers = [code.strip() for code in assisting if code.strip() and code.strip() != lead]
        note = reason.strip() or None
        if note and len(note) > REASON_MAX:
            raise Refused(422, f"交办意见不能超过{REASON_MAX}字", f"The instructions must be at most {REASON_MAX} characters")
        if petition.status == Status.REGISTERED:
            # Accept first; a lead pre-set by the router would be put in charge here, and the ASSIGN below replaces it.
            _transition(session, console, tracking_no, action=Action.ACCEPT)
        _transition(session, console, tracking_no, action=Action.ASSIGN, unit=lead, assisting=helpers, reason=note)
        return {"unit": lead}
    return _act(request, console, tracking_no, "assign", back, work, {"unit": unit, "assisting": assisting, "reason": reason})


@router.post("/triage/{tracking_no}/merge", include_in_schema=False)
def merge(request: Request, console: Triage, tracking_no: str, target: Annotated[str, Form()] = "",
          reason: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""):
    """Merge the petition into the petition it duplicates."""
    into = target.strip().upper()

    def work(session: Session, petition: Petition) -> dict:
        if not into:
            raise Refused(422, "请填写合并到的信访件编号", "Enter the tracking number to merge into")
        if not TRACKING_NO.match(into):
            raise Refused(422, f"编号格式不对：{into[:40]}（应为 XF-年月日-六位序号）",
                          f"Not a tracking number: {into[:40]} (expected XF-YYYYMMDD-NNNNNN)")
        if into == petition.tracking_no:
            raise Refused(422, "不能合并到自身", "A petition cannot be merged into itself")
        if session.scalar(select(Petition.id).where(Petition.tracking_no == into)) is None:
            raise Refused(422, f"没有信访件 {into}", f"No petition {into}")
        why = _reason(reason, "合并理由", "A reason for the merge")
        _transition(session, console, tracking_no, action=Action.MERGE, target=into, reason=why)
        return {"target": into}
    return _act(request, console, tracking_no, "merge", back, work, {"target": target, "reason": reason})


@router.post("/triage/{tracking_no}/forward", include_in_schema=False)
def forward(request: Request, console: Triage, tracking_no: str, to: Annotated[str, Form()] = "",
            reason: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""):
    """Forward a registered petition to another authority that is responsible for it."""
    def work(session: Session, petition: Petition) -> dict:
        whom = to.strip()
        if not whom:
            raise Refused(422, "请填写转送的机关", "Enter the authority it goes to")
        if len(whom) > 200:
            raise Refused(422, "转送机关名称不能超过200字", "The authority's name must be at most 200 characters")
        why = _reason(reason, "转送理由", "A reason for forwarding")
        _transition(session, console, tracking_no, action=Action.FORWARD, text=whom, reason=why)
        return {}
    return _act(request, console, tracking_no, "forward", back, work, {"to": to, "reason": reason})


@router.post("/triage/{tracking_no}/not-accept", include_in_schema=False)
def not_accept(request: Request, console: Triage, tracking_no: str, reason: Annotated[str, Form()] = "",
               back: Annotated[str, Form()] = ""):
    """Decline a registered petition, with the reason the citizen will be told."""
    def work(session: Session, petition: Petition) -> dict:
        why = _reason(reason, "不予受理理由", "A reason for not accepting")
        _transition(session, console, tracking_no, action=Action.NOT_ACCEPT, reason=why)
        return {}
    return _act(request, console, tracking_no, "not_accept", back, work, {"reason": reason})


@router.post("/triage/{tracking_no}/route", include_in_schema=False)
def route_again(request: Request, console: Triage, tracking_no: str, back: Annotated[str, Form()] = ""):
    """Run the router again on this petition (after new rules or a correction)."""
    def work(session: Session, petition: Petition) -> dict:
        if Status(petition.status) in TERMINAL:
            raise Refused(409, "已办结的信访件不再分流", "A finished petition is not routed again")
        routing.do_route(session, petition_id=petition.id)
        return {}
    return _act(request, console, tracking_no, "route", back, work, {})
