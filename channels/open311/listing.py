"""GET Service Requests: the date window of a query, and petitions shown as service requests.

GET answers are public (the specification asks for no API key), so they carry nothing the citizen wrote or
who they are: no name, phone or e-mail, no query code, no description, media or street address (the area
stands in for it), and only petitions filed through Open311 are visible, so that a petition given in
confidence on another channel cannot be read by guessing its tracking number.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from cases import catalog
from cases.enums import STATUS_LABELS, TERMINAL, Status
from cases.models import Area, Petition
from channels.open311.catalogue import Taxonomy, get_taxonomy
from channels.open311.common import CHANNEL, Open311Error, local, shown
from core.settings import get_settings

MAX_SPAN = timedelta(days=90)
# Statuses in which the latest official answer explains the status; elsewhere the status label does.
_ANSWERED = frozenset({Status.REPLIED, Status.CLOSED, Status.REVIEW_REPLIED, Status.FINAL})


def _w3(dt: datetime | None) -> str | None:
    return local(dt).isoformat(timespec="seconds") if dt else None


def _parse_bound(value: str, name: str, *, end: bool) -> datetime:
    value = value.strip()
    zone = ZoneInfo(get_settings().timezone)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        # A bare date means that whole local day.
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise Open311Error(400, f"{name} {shown(value)} is not a valid date") from None
        start = datetime.combine(day, time(), zone)
        return start + timedelta(days=1) - timedelta(microseconds=1) if end else start
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Open311Error(400, f"{name} {shown(value)} is not a w3 datetime such as 2010-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a timezone (Z or ±HH:MM), e.g. 2010-01-01T00:00:00Z")
    return parsed


def listed(value: str | None) -> list[str]:
    """Split a comma delimited filter into its values, blanks left out."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def window(start_date: str | None, end_date: str | None, now: datetime) -> tuple[datetime, datetime]:
    """Return the span a query covers: the dates given, filled out to 90 days, or the 90 days up to now."""
    start = _parse_bound(start_date, "start_date", end=False) if start_date and start_date.strip() else None
    end = _parse_bound(end_date, "end_date", end=True) if end_date and end_date.strip() else None
    if start and end:
        if end < start:
            raise Open311Error(400, "end_date lies before start_date")
        if end - start > MAX_SPAN:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
        return start, end
    if start:
        return start, start + MAX_SPAN
    if end:
        return end - MAX_SPAN, end
    return now - MAX_SPAN, now


def _area_path(area_code: str | None, areas: dict[str, Area]) -> str | None:
    names, seen = [], set()
    area = areas.get(area_code) if area_code else None
    while area is not None and area.code not in seen:
        seen.add(area.code)
        names.append(area.name)
        area = areas.get(area.parent_code) if area.parent_code else None
    return ", ".join(names) or None  # most specific first, as the specification asks


def _agency(session: Session, p: Petition) -> str | None:
    if p.lead_unit is not None:
        return p.lead_unit.name
    if p.status == Status.FORWARDED and p.forwarded_to:
        unit = catalog.get_unit_by_code(session, p.forwarded_to)
        return unit.name if unit else p.forwarded_to
    return None


def _request_out(session: Session, p: Petition, tax: Taxonomy, areas: dict[str, Area]) -> dict:
    status = Status(p.status)
    closed = status in TERMINAL
    zh, en = STATUS_LABELS[status]
    notes = p.replies[-1].text if p.replies and status in _ANSWERED else f"{zh} / {en}"
    service = tax.service_of(tax.by_id.get(p.category_id) if p.category_id else None)
    return {
        "service_request_id": p.tracking_no,
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": service.name if service else None,
        "service_code": service.code if service else None,
        # What the citizen wrote may name them; GET is public, so it is not shown (see the module docstring).
        "description": None,
        "agency_responsible": _agency(session, p),
        "service_notice": None,
        "requested_datetime": _w3(p.received_at),
        "updated_datetime": _w3(p.closed_at if closed and p.closed_at else p.updated_at),
        "expected_datetime": None if closed else _w3(p.due_at),
        "address": _area_path(p.area_code, areas),
        "address_id": p.area_code,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def requests_out(session: Session, rows: list[Petition]) -> list[dict]:
    """Show petitions as service requests, with nothing that names the citizen."""
    tax = get_taxonomy(session)
    areas = {a.code: a for a in catalog.list_areas(session)}
    return [_request_out(session, p, tax, areas) for p in rows]


def query() -> Select:
    """Select the petitions filed through Open311, with what an answer shows loaded, newest first."""
    return (select(Petition).where(Petition.channel == CHANNEL)
            .options(selectinload(Petition.replies), selectinload(Petition.lead_unit))
            .order_by(Petition.received_at.desc(), Petition.id.desc()))
