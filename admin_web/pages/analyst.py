"""The analyst desk: the classified intake stream with filters, category corrections, charts and a CSV export.

No petitioner data is read here at all: the queries select petition columns only, so neither the
table nor the export can leak a name or phone number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import Session, selectinload

from admin_web import charts
from admin_web.web import Console, local, render, require
from cases import catalog
from cases.enums import Channel, Status
from cases.models import Category, Petition
from cases.service import CaseError, Invalid, access, area_condition, unit_condition
from core.accounts import Role
from core.settings import get_settings
from core.web import transaction
from nlu.contact import LABELS as CONTACT_LABELS
from risk.models import PetitionRisk
from routing.models import RoutingDecision
from routing.service import RoutingError, do_correct_category

router = APIRouter()
Analyst = Annotated[Console, Depends(require(Role.ANALYST, Role.SUPERVISOR, Role.ADMIN))]

PAGE_SIZE = 50
# Pages beyond this are not offered (a deep OFFSET over a million rows is slow and nobody reads page 5,000):
# narrow the filters or export the CSV instead.
MAX_PAGES = 200
TRIGRAM = 3
CHART_DAYS = 30
MAX_DAILY_BARS = 92
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    Channel.WEBCHAT: ("网页", "Web chat"), Channel.WECHAT: ("微信公众号", "WeChat"),
    Channel.MINIPROGRAM: ("小程序", "Mini-program"), Channel.SMS: ("短信", "SMS"), Channel.PHONE: ("电话", "Phone"),
    Channel.OPEN311: ("Open311", "Open311"),
    Channel.WALK_IN: ("来访", "Walk-in"), Channel.LETTER: ("来信", "Letter"), Channel.API: ("接口", "API"),
}
RISK_LABELS = {"red": ("红色", "Red"), "orange": ("橙色", "Orange"), "yellow": ("黄色", "Yellow"), "blue": ("蓝色", "Blue"),
               "none": ("未评估", "Not assessed")}
CSV_COLUMNS = ["tracking_no", "received_at", "channel", "category", "area_code", "lead_unit", "status", "risk_level", "title"]
# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DONE = {"recat": ("分类已更正", "Category corrected")}
# Query-string names that differ from the field names: the dates are "from" and "to".
_PARAM_NAMES = {"start": "from", "end": "to"}


@dataclass(frozen=True)
class Filters:
    """The analyst's filters as given in the query string (all optional)."""

    start: str = ""
    end: str = ""
    channel: str = ""
    category: str = ""
    area: str = ""
    unit: str = ""
    status: str = ""
    risk: str = ""
    contact: str = ""  # contact type (issue 11): complaint, help, proposal, consultation, praise, report
    q: str = ""  # a keyword in the title or body, or a tracking number
    page: int = 1

    @classmethod
    def parse(cls, params) -> Filters:
        """Read the filters from a query string (a mapping), ignoring anything else."""
        values = {}
        for f in fields(cls):
            raw = params.get(_PARAM_NAMES.get(f.name, f.name))
            if raw is None:
                continue
            raw = str(raw).strip()[:60]
            if f.name == "page":
                values["page"] = int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1
            else:
                values[f.name] = raw
        return cls(**values)

    def params(self, **override) -> dict[str, str]:
        """Return the non-empty filters as query parameters (page left out when 1)."""
        merged = replace(self, **override)
        out = {}
        for f in fields(merged):
            value = getattr(merged, f.name)
            if value and not (f.name == "page" and value == 1):
                out[_PARAM_NAMES.get(f.name, f.name)] = str(value)
        return out

    def query(self, **override) -> str:
        """Return the filters as a query string."""
        return urlencode(self.params(**override))


@dataclass
class Scope:
    """Filters checked against the reference data and turned into SQL conditions."""

    conditions: list
    first: date | None
    last: date | None


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{what} is not a date (YYYY-MM-DD)") from None


def _subtree(session: Session, node: Category) -> list[int]:
    """Return the ids of a category and everything under it (the taxonomy has three levels)."""
    ids, frontier = [node.id], [node.id]
    while frontier:
        frontier = list(session.scalars(select(Category.id).where(Category.parent_id.in_(frontier))))
        ids.extend(frontier)
    return ids


def scope(session: Session, f: Filters) -> Scope:
    """Check the filters and return the conditions that select the petitions they describe."""
    tz, conditions = _tz(), []
    first, last = _day(f.start, "from"), _day(f.end, "to")
    if first and last and last < first:
        raise Invalid("the date range ends before it starts")
    if first:
        conditions.append(Petition.received_at >= datetime.combine(first, time.min, tz))
    if last:
        conditions.append(Petition.received_at < datetime.combine(last + timedelta(days=1), time.min, tz))
    if f.channel:
        if f.channel not in set(Channel):
            raise Invalid(f"unknown channel {f.channel!r}")
        conditions.append(Petition.channel == f.channel)
    if f.status:
        if f.status not in set(Status):
            raise Invalid(f"unknown status {f.status!r}")
        conditions.append(Petition.status == f.status)
    if f.category:
        node = catalog.resolve_category(session, f.category)
        if node is None:
            raise Invalid(f"unknown category {f.category!r}")
        # A first-level category means everything filed under it, at any depth.
        conditions.append(Petition.category_id.in_(_subtree(session, node)))
    if f.area:
        if catalog.get_area(session, f.area) is None:
            raise Invalid(f"unknown area {f.area!r}")
        conditions.append(area_condition(f.area))
    if f.unit:
        unit = catalog.get_unit_by_code(session, f.unit)
        if unit is None:
            raise Invalid(f"unknown unit {f.unit!r}")
        conditions.append(unit_condition(session, unit.id))
    if f.risk:
        if f.risk not in RISK_LABELS:
            raise Invalid(f"unknown risk level {f.risk!r}")
        assessed = select(PetitionRisk.petition_id)
        conditions.append(Petition.id.not_in(assessed) if f.risk == "none"
                          else Petition.id.in_(assessed.where(PetitionRisk.level == f.risk)))
    if f.contact:
        if f.contact not in CONTACT_LABELS:
            raise Invalid(f"unknown contact type {f.contact!r}")
        conditions.append(Petition.contact_type == f.contact)
    if f.q:
        conditions.append(keyword(session, f.q))
    return Scope(conditions, first, last)


def keyword(session: Session, term: str):
    """Return the condition for petitions whose title or body holds the term (any case), or with that tracking number."""
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = or_(Petition.title.ilike(pattern, escape="\\"), Petition.content.ilike(pattern, escape="\\"))
    if session.get_bind().dialect.name == "postgresql" and len(term) >= TRIGRAM:
        # The trigram index of migration 0010 is on exactly this expression; the OR above then checks the
        # candidates (a term could straddle the joint of title and body). A shorter term has no trigram: the
        # index would be read whole (measured 3x slower than scanning the table), so it is left out.
        joined = literal_column("(petitions.title || ' ' || petitions.content)")
        found = and_(joined.ilike(pattern, escape="\\"), found)
    return or_(found, Petition.tracking_no == term.upper())


class Taxonomy:
    """The category tree in memory, to name a category by its path or by its first-level ancestor."""

    def __init__(self, session: Session):
        self.nodes = {c.id: c for c in session.scalars(select(Category))}

    def chain(self, category_id: int | None) -> list[Category]:
        out, node = [], self.nodes.get(category_id)
        while node is not None and len(out) < 5:
            out.insert(0, node)
            node = self.nodes.get(node.parent_id)
        return out

    def path(self, category_id: int | None, lang: str = "zh") -> str:
        names = [(c.name_en or c.name) if lang == "en" else c.name for c in self.chain(category_id)]
        return " / ".join(names)

    def root(self, category_id: int | None) -> Category | None:
        chain = self.chain(category_id)
        return chain[0] if chain else None


def _volume_by_day(session: Session, sc: Scope, lang: str) -> tuple[str, list[tuple[str, int]]]:
    """Count petitions per local day over the filtered range (the last 30 days by default), per month if long."""
    tz = _tz()
    today = datetime.now(tz).date()
    last = sc.last or today
    first = sc.first or last - timedelta(days=CHART_DAYS - 1)
    since, until = datetime.combine(first, time.min, tz), datetime.combine(last + timedelta(days=1), time.min, tz)
    monthly = (last - first).days + 1 > MAX_DAILY_BARS
    counts: dict[str, int] = {}
    for day, n in day_counts(session, sc.conditions, since, until):
        key = day.strftime("%Y-%m") if monthly else day.isoformat()
        counts[key] = counts.get(key, 0) + n
    keys: list[str] = []
    cursor = first
    while cursor <= last:
        key = cursor.strftime("%Y-%m") if monthly else cursor.isoformat()
        if not keys or keys[-1] != key:
            keys.append(key)
        cursor += timedelta(days=1)
    label = f"{first.isoformat()} — {last.isoformat()}"
    unit = ("按月", "per month") if monthly else ("按日", "per day")
    caption = f"{unit[1] if lang == 'en' else unit[0]}, {label}"
    return caption, [(k if monthly else k[5:], counts.get(k, 0)) for k in keys]


def day_counts(session: Session, conditions: list, since: datetime, until: datetime) -> list[tuple[date, int]]:
    """Count the petitions matching the conditions per local day of receipt in [since, until)."""
    tz = _tz()
    window = (*conditions, Petition.received_at >= since, Petition.received_at < until)
    if session.get_bind().dialect.name == "postgresql":
        # Grouped in the database: a year is ~300,000 rows at a million petitions, too many to fetch.
        day = func.date(func.timezone(tz.key, Petition.received_at))
        return [(d, n) for d, n in session.execute(select(day, func.count()).where(*window).group_by(day))]
    counts: dict[date, int] = {}
    for stamp in session.scalars(select(Petition.received_at).where(*window)):
        d = stamp.astimezone(tz).date()
        counts[d] = counts.get(d, 0) + 1
    return sorted(counts.items())


def _breakdown(session: Session, sc: Scope, tax: Taxonomy, lang: str
               ) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Return the total and the counts by first-level category and by channel, from one grouped scan."""
    rows = session.execute(select(Petition.category_id, Petition.channel, func.count()).where(*sc.conditions)
                           .group_by(Petition.category_id, Petition.channel)).all()
    by_category: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for category_id, channel, n in rows:
        root = tax.root(category_id)
        name = ((root.name_en or root.name) if lang == "en" else root.name) if root else \
            ("Uncategorised" if lang == "en" else "未分类")
        by_category[name] = by_category.get(name, 0) + n
        label = channel_label(channel, lang)
        by_channel[label] = by_channel.get(label, 0) + n
    return sum(n for *_, n in rows), _largest_first(by_category), _largest_first(by_channel)


def _largest_first(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def channel_label(channel: str, lang: str) -> str:
    """Return a channel's name in the console language."""
    zh, en = CHANNEL_LABELS.get(channel, (channel, channel))
    return en if lang == "en" else zh


def _flash(console: Console, done: str | None, no: str | None) -> str | None:
    if done not in DONE:
        return None
    zh, en = DONE[done]
    return (en if console.lang == "en" else zh) + (f" · {no}" if no and no.replace("-", "").isalnum() else "")


def _page(request: Request, console: Console, f: Filters, *, flash: str | None = None, flash_kind: str = "ok",
          status_code: int = 200):
    lang = console.lang
    with transaction(request) as session:
        sc = scope(session, f)
        tax = Taxonomy(session)
        total, by_category, by_channel = _breakdown(session, sc, tax, lang)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(f.page, pages, MAX_PAGES)
        rows = list(session.scalars(select(Petition).where(*sc.conditions)
                                    .options(selectinload(Petition.lead_unit), selectinload(Petition.area))
                                    .order_by(Petition.received_at.desc(), Petition.id.desc())
                                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        ids = [p.id for p in rows]
        risks = dict(session.execute(select(PetitionRisk.petition_id, PetitionRisk.level)
                                     .where(PetitionRisk.petition_id.in_(ids))).all()) if ids else {}
        decisions = {d.petition_id: d for d in session.scalars(
            select(RoutingDecision).where(RoutingDecision.petition_id.in_(ids)))} if ids else {}
        day_caption, by_day = _volume_by_day(session, sc, lang)
        t = (lambda zh, en: en if lang == "en" else zh)
        empty = t("无数据", "No data")
        return render(
            request, "analyst/index.html", console, status_code=status_code, flash=flash, flash_kind=flash_kind,
            f=f, rows=rows, total=total, page=page, pages=pages, max_pages=MAX_PAGES, risks=risks, decisions=decisions, tax=tax,
            categories=catalog.list_categories(session, level=1), units=catalog.list_units(session, active_only=False),
            areas=[a for a in catalog.list_areas(session) if a.level in ("city", "district")],
            channels=list(Channel), statuses=list(Status), channel_label=lambda c: channel_label(c, lang),
            risk_labels=RISK_LABELS, contact_labels=CONTACT_LABELS, by_day=by_day, by_category=by_category, by_channel=by_channel,
            day_caption=day_caption,
            day_chart=charts.column_chart("chart-day", t("每日来件量", "Petitions received per day") + " · " + day_caption,
                                          by_day, empty=empty, width=1200, height=240),
            category_chart=charts.bar_chart("chart-category", t("按一级分类", "By first-level category"), by_category,
                                            empty=empty, width=560),
            channel_chart=charts.bar_chart("chart-channel", t("按渠道", "By channel"), by_channel, empty=empty, width=560),
            back=f.query())


@router.get("/analyst", include_in_schema=False)
def intake(request: Request, console: Analyst, done: str | None = None, no: str | None = None):
    """Show the classified intake stream with filters, charts and the category correction form."""
    return _page(request, console, Filters.parse(request.query_params), flash=_flash(console, done, no))


def _back(back: str) -> Filters:
    # Only our own filter names survive: the redirect target is always this page.
    return Filters.parse(dict(parse_qsl(back or "", keep_blank_values=False)))


@router.post("/analyst/{tracking_no}/category", include_in_schema=False)
def correct_category(request: Request, console: Analyst, tracking_no: str,
                     category: Annotated[str, Form(max_length=200)] = "", path: Annotated[str, Form(max_length=200)] = "",
                     reason: Annotated[str, Form(max_length=2000)] = "", back: Annotated[str, Form(max_length=2000)] = ""):
    """Correct a petition's category (kept as training data) and return to the same filtered list."""
    f = _back(back)
    chosen = path.strip() or category.strip()
    try:
        if not chosen:
            raise Invalid("choose a category or type its path")
        with transaction(request) as session:
            petition = access(session, tracking_no, console.actor)
            do_correct_category(session, petition=petition, category=chosen, reason=reason.strip() or None,
                                actor=console.actor)
    except (CaseError, RoutingError) as exc:
        if isinstance(exc, CaseError) and exc.status == 404:
            raise
        prefix = "无法更正分类：" if console.lang != "en" else "Category not changed: "
        return _page(request, console, f, flash=prefix + str(exc), flash_kind="error",
                     status_code=getattr(exc, "status", 422) if isinstance(exc, CaseError) else 422)
    query = urlencode({**f.params(), "done": "recat", "no": tracking_no})
    return RedirectResponse(f"/console/analyst?{query}#row-{tracking_no}", status_code=303)


def safe_cell(value) -> str:
    """Return a CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@router.get("/analyst/export.csv", include_in_schema=False)
def export_csv(request: Request, console: Analyst):
    """Download the filtered petitions as CSV (UTF-8 with BOM for Excel), without any petitioner data."""
    f = Filters.parse(request.query_params)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    with transaction(request) as session:
        sc = scope(session, f)
        tax = Taxonomy(session)
        unit_codes = {u.id: u.code for u in catalog.list_units(session, active_only=False)}
        stmt = (select(Petition.tracking_no, Petition.received_at, Petition.channel, Petition.category_id,
                       Petition.area_code, Petition.lead_unit_id, Petition.status, PetitionRisk.level, Petition.title)
                .outerjoin(PetitionRisk, PetitionRisk.petition_id == Petition.id).where(*sc.conditions)
                .order_by(Petition.received_at.desc(), Petition.id.desc()).execution_options(yield_per=1000))
        for no, received, channel, category_id, area, unit_id, status, level, title in session.execute(stmt):
            writer.writerow([safe_cell(v) for v in (no, local(received, "%Y-%m-%d %H:%M:%S"), channel,
                                                    tax.path(category_id), area, unit_codes.get(unit_id), status,
                                                    level, title)])
    stamp = datetime.now(_tz()).strftime("%Y%m%d-%H%M")
    return Response(buffer.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="petitions-{stamp}.csv"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
