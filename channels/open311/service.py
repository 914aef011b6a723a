"""Open311 GeoReport v2 mapped onto the case domain, whatever the output format.

Services are the first- and second-level categories of the taxonomy, their attributes the intake slots a
petition needs beyond its description. A service request is a petition filed through this channel; its
service_request_id is the tracking number. Answers are lists and dicts keyed by the specification's field
names in its order, so that ``render`` writes them as JSON or XML alike.

GET answers are public (the specification asks for no API key), so they carry nothing the citizen wrote or
who they are: no name, phone or e-mail, no query code, no description, media or street address (the area
stands in for it), and only petitions filed through Open311 are visible, so that a petition given in
confidence on another channel cannot be read by guessing its tracking number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cases import catalog
from cases import service as cases
from cases.enums import STATUS_LABELS, TERMINAL, Channel, Status
from cases.models import Area, Category, Petition
from cases.schemas import TRACKING_NO, PetitionCreate, PetitionerIn
from core.accounts import Actor, Role
from core.db import utcnow
from core.security import Signer
from core.settings import Environment, get_settings
from nlu.areas import AreaIndex

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable; bump it when the shape of the service list or the service definitions changes.
CHANGESET = "2026-12-04 00:00"
CHANNEL = Channel.OPEN311
ACTOR = Actor("open311", Role.AGENT)
MAX_DESCRIPTION = 4000  # the specification's limit
MAX_RESULTS = 1000
MAX_SPAN = timedelta(days=90)
MAX_IDS = 1000
# Statuses in which the latest official answer explains the status; elsewhere the status label does.
_ANSWERED = frozenset({Status.REPLIED, Status.CLOSED, Status.REVIEW_REPLIED, Status.FINAL})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_TOKEN = re.compile(r"^(XF-\d{8}-\d{6})-([0-9a-f]{24})$", re.ASCII)
_FIELDS = ("jurisdiction_id", "api_key", "service_code", "lat", "long", "address_string", "address_id", "email",
           "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url")


class Open311Error(Exception):
    """A request refused in the specification's terms: the HTTP status and descriptions meant for the user."""

    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions)


def _shown(value: str, limit: int = 80) -> str:
    """Quote a client's value in an error message, cut short."""
    value = value.strip()
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """Refuse a jurisdiction_id other than the one this endpoint serves; an absent one is fine."""
    served = get_settings().open311_jurisdiction_id
    if jurisdiction_id and jurisdiction_id.strip() and jurisdiction_id.strip().lower() != served.lower():
        raise Open311Error(404, f"jurisdiction_id {_shown(jurisdiction_id)} was not found; this endpoint serves {served}")


def check_api_key(api_key: str | None) -> None:
    """Refuse a POST without the configured API key (compared in constant time), or any POST when none is set."""
    configured = get_settings().open311_api_key
    if configured is None:
        raise Open311Error(403, "Open311 posting is not enabled")
    if not api_key:
        raise Open311Error(403, "api_key was not provided")
    # Digests first, so that neither the content nor the length of the key shows in the timing.
    given = hashlib.sha256(api_key.encode()).digest()
    expected = hashlib.sha256(configured.get_secret_value().encode()).digest()
    if not hmac.compare_digest(given, expected):
        raise Open311Error(403, "Invalid api_key")


def get_discovery() -> dict:
    """Return the service discovery document that points clients at this endpoint."""
    settings = get_settings()
    return {
        "changeset": CHANGESET,
        "contact": "请联系当地 12345 热线或信访部门 / Contact the local 12345 hotline or petition office.",
        "key_service": "API key 由信访部门系统管理员发放 / API keys are issued by the petition office's administrators.",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": settings.public_base_url.rstrip("/") + "/open311/v2",
            "changeset": CHANGESET,
            "type": "production" if settings.environment is Environment.PRODUCTION else "test",
            "formats": ["text/xml", "application/json"],
        }],
    }


# Services


@dataclass(frozen=True)
class _Taxonomy:
    by_id: dict[int, Category]
    by_code: dict[str, Category]
    children: dict[int, list[Category]]

    def service_of(self, category: Category | None) -> Category | None:
        """Return the service a category falls under: itself up to the second level, else its ancestor there."""
        while category is not None and category.level > 2:
            category = self.by_id.get(category.parent_id)
        return category

    def service(self, code: str) -> Category | None:
        """Return the service with this code (a first- or second-level category), or None."""
        found = self.by_code.get(code.strip())
        return found if found is not None and found.level <= 2 else None


def _taxonomy(session: Session) -> _Taxonomy:
    rows = catalog.list_categories(session)
    children: dict[int, list[Category]] = {}
    for c in rows:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c)
    return _Taxonomy({c.id: c for c in rows}, {c.code: c for c in rows}, children)


def _bilingual(zh: str, en: str | None) -> str:
    return f"{zh} ({en})" if en else zh


def _keywords(names: Iterable[str | None]) -> str:
    seen: dict[str, None] = {}
    for name in names:
        if name:
            # Keywords are a comma separated list: a comma inside one would split it.
            seen.setdefault(re.sub(r"\s*[,，、]\s*", " ", name).strip(), None)
    return ", ".join(k for k in seen if k)


def _service_out(c: Category, tax: _Taxonomy) -> dict:
    group = c if c.level == 1 else tax.by_id[c.parent_id]
    below = tax.children.get(c.id, [])
    if c.level == 1:
        what = f"{c.name}（综合及其他）/ {c.name_en or c.name} (general and other matters)"
    else:
        what = f"{group.name} › {c.name}" + (f" / {group.name_en} › {c.name_en}" if group.name_en and c.name_en else "")
    if below:
        what += f". 包括 Includes: {'、'.join(b.name for b in below)}"
    names = [c.name, c.name_en]
    if group is not c:
        names += [group.name, group.name_en]
    for b in below:
        names += [b.name, b.name_en]
    return {"service_code": c.code, "service_name": c.name, "description": what, "metadata": True, "type": "realtime",
            "keywords": _keywords(names), "group": group.name}


def list_services(session: Session) -> list[dict]:
    """List the service types: the first- and second-level categories, grouped by their first-level one."""
    tax = _taxonomy(session)
    return [_service_out(c, tax) for c in tax.by_code.values() if c.level <= 2]


def _attributes(session: Session) -> list[dict]:
    districts = catalog.list_areas(session, level="district")
    return [
        {"variable": True, "code": "area", "datatype": "singlevaluelist", "required": False,
         "datatype_description": "区县代码；address_string 写明区县时可不填 / "
                                 "a district code; may be left out when address_string names the district",
         "order": 1, "description": "事发所在区县 / The district where the matter arose",
         "values": [{"key": a.code, "name": _bilingual(a.name, a.name_en)} for a in districts]},
        {"variable": True, "code": "demand", "datatype": "text", "required": False, "datatype_description": None,
         "order": 2, "description": "诉求：希望有关部门怎样解决 / What you ask the authorities to do", "values": []},
        {"variable": True, "code": "head_count", "datatype": "number", "required": False,
         "datatype_description": "整数 1–100000；5 人及以上为集体访 / a whole number from 1 to 100000; "
                                 "5 or more people make it a collective petition",
         "order": 3, "description": "反映人数 / How many people this petition is made by", "values": []},
        {"variable": True, "code": "occurred_on", "datatype": "string", "required": False,
         "datatype_description": "最好用 ISO 8601 日期，如 2026-11-30；至多 40 字 / preferably an ISO 8601 date such as "
                                 "2026-11-30; at most 40 characters",
         "order": 4, "description": "事情发生的时间 / When it happened", "values": []},
        {"variable": True, "code": "previous_tracking_no", "datatype": "string", "required": False,
         "datatype_description": "形如 XF-20260101-000001 / like XF-20260101-000001",
         "order": 5, "description": "此前就同一事项信访的编号 / The tracking number of an earlier petition on the same matter",
         "values": []},
    ]


ATTRIBUTE_CODES = ("area", "demand", "head_count", "occurred_on", "previous_tracking_no")


def get_service_definition(session: Session, *, service_code: str) -> dict:
    """Return a service's definition: the intake slots a petition of it takes as attributes."""
    if not service_code.strip():
        raise Open311Error(400, "service_code was not provided")
    found = _taxonomy(session).service(service_code)
    if found is None:
        raise Open311Error(404, f"service_code {_shown(service_code)} was not found")
    return {"service_code": found.code, "attributes": _attributes(session)}


# POST Service Request


@dataclass
class RequestIn:
    """The arguments of a POST Service Request, as sent (empty values count as absent, per the specification)."""

    jurisdiction_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    service_code: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = field(default=None, repr=False)
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = field(default=None, repr=False)
    last_name: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    description: str | None = None
    media_url: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)


def parse_request(items: Iterable[tuple[str, str]]) -> RequestIn:
    """Read form fields (``attribute[code]`` and ``attribute[code][]`` included) into a RequestIn; the last value wins."""
    req = RequestIn()
    for key, value in items:
        value = value.strip() if isinstance(value, str) else ""
        match = _ATTRIBUTE_KEY.match(key)
        if match:
            if value:
                req.attributes.setdefault(match.group(1).strip(), []).append(value)
        elif key in _FIELDS:
            setattr(req, key, value or None)
    return req


def _title(description: str) -> str:
    first = re.split(r"[。！？!?\n]|(?<=[A-Za-z])\.\s", description.strip(), maxsplit=1)[0].strip() or description.strip()
    limit = 40 if _CJK.search(first) else 100
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _name(first: str | None, last: str | None) -> str | None:
    if first and last and _CJK.search(first) and _CJK.search(last):
        return last + first  # 张 + 三: a Chinese name puts the family name first
    return " ".join(p for p in (first, last) if p) or None


def _single(req: RequestIn, code: str) -> str | None:
    values = req.attributes.get(code) or []
    if len(values) > 1:
        raise Open311Error(400, f"attribute[{code}] takes one value, not {len(values)}")
    return values[0] if values else None


def _coordinates(req: RequestIn) -> tuple[float, float] | None:
    if not (req.lat or req.long):
        return None
    try:
        lat, long = float(req.lat or ""), float(req.long or "")
    except ValueError:
        lat = long = float("nan")
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise Open311Error(400, "lat and long must both be sent, as WGS84 decimal degrees")
    return lat, long


def _area_index(areas: list[Area]) -> AreaIndex:
    return AreaIndex({"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code,
                      "short_name": a.short_name, "name_en": a.name_en} for a in areas)


_WHERE = ("send attribute[area] with one of the district codes of the service definition, "
          "or an address_string that names the district (区/县/市)")


def _resolve_area(session: Session, req: RequestIn) -> str:
    """Return the code of the area the request concerns: a district, or a street within one when the address says so."""
    areas = catalog.list_areas(session)
    by_code = {a.code: a for a in areas}
    index = _area_index(areas)
    spelled = []
    if req.address_string:
        spelled = [ref for ref, _, _ in index.find(req.address_string) if ref.level in ("district", "street")]
    chosen = _single(req, "area")
    if chosen:
        ref = index.get(chosen) or index.lookup(chosen)
        if ref is None or ref.level not in ("district", "street"):
            raise Open311Error(400, f"attribute[area] {_shown(chosen)} is not one of the district codes of the service "
                                    "definition")
        # A street the address names inside the chosen district is more precise still.
        streets = [s for s in spelled if s.level == "street" and index.is_ancestor(ref.code, s.code)]
        return streets[0].code if streets else ref.code
    if req.address_id and req.address_id in by_code and by_code[req.address_id].level in ("district", "street"):
        return req.address_id
    if spelled:
        return spelled[0].code
    if req.address_string:
        raise Open311Error(400, f"address_string {_shown(req.address_string)} names no district here: {_WHERE}")
    if req.address_id:
        raise Open311Error(400, f"address_id {_shown(req.address_id)} is not an area code known here: {_WHERE}")
    raise Open311Error(400, f"a location by lat/long alone cannot be placed in a district here: {_WHERE}")


def _slots(req: RequestIn) -> dict:
    unknown = sorted(set(req.attributes) - set(ATTRIBUTE_CODES))
    if unknown:
        raise Open311Error(400, *(f"unknown attribute[{code}]; the service definition has {', '.join(ATTRIBUTE_CODES)}"
                                  for code in unknown))
    out: dict = {}
    if (count := _single(req, "head_count")) is not None:
        if not re.fullmatch(r"\d{1,6}(\.0*)?", count) or not 1 <= int(float(count)) <= 100_000:
            raise Open311Error(400, f"attribute[head_count] must be a whole number from 1 to 100000, not {_shown(count)}")
        out["head_count"] = int(float(count))
    if (demand := _single(req, "demand")) is not None:
        if len(demand) > 5000:
            raise Open311Error(400, "attribute[demand] is longer than 5000 characters")
        out["demand"] = demand
    if (occurred := _single(req, "occurred_on")) is not None:
        if len(occurred) > 40:
            raise Open311Error(400, "attribute[occurred_on] is longer than 40 characters")
        out["occurred_on"] = occurred
    if (previous := _single(req, "previous_tracking_no")) is not None:
        if not re.fullmatch(TRACKING_NO, previous.upper()):
            raise Open311Error(400, f"attribute[previous_tracking_no] {_shown(previous)} is not a tracking number "
                                    "like XF-20260101-000001")
        out["previous_tracking_no"] = previous.upper()
    return out


def _petitioner(req: RequestIn) -> PetitionerIn | None:
    name = _name(req.first_name, req.last_name)
    if not (name or req.phone):
        return None
    if name and len(name) > 100:
        raise Open311Error(400, "first_name and last_name are longer than 100 characters together")
    try:
        return PetitionerIn(name=name, phone=req.phone)
    except ValidationError:
        raise Open311Error(400, "phone must be a phone number of 5 to 15 digits") from None


def _local(dt: datetime) -> datetime:
    return dt.astimezone(ZoneInfo(get_settings().timezone))


def _signer() -> Signer:
    return Signer(get_settings().secret_key.get_secret_value(), b"open311-token")


def token_for(tracking_no: str) -> str:
    """Return the token that stands for a service request (the tracking number and a MAC over it)."""
    return f"{tracking_no}-{_signer().sign(tracking_no.encode())[:24]}"


def create_request(session: Session, *, req: RequestIn, now: datetime | None = None) -> list[dict]:
    """Register a petition from a POST Service Request; the caller has checked the API key and jurisdiction."""
    now = now or utcnow()
    missing = []
    if not req.service_code:
        missing.append("service_code was not provided")
    if not (req.lat or req.long or req.address_string or req.address_id or req.attributes.get("area")):
        missing.append(f"a location was not provided: {_WHERE}")
    if not req.description:
        missing.append("description was not provided: a petition needs the matter described")
    if missing:
        raise Open311Error(400, *missing)
    if len(req.description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    category = _taxonomy(session).service(req.service_code)
    if category is None:
        raise Open311Error(404, f"service_code {_shown(req.service_code)} was not found")
    coordinates = _coordinates(req)
    if req.address_string and len(req.address_string) > 300:
        raise Open311Error(400, "address_string is longer than 300 characters")
    if req.media_url and (len(req.media_url) > 2000 or not re.match(r"^https?://[^\s]+$", req.media_url, re.I)):
        raise Open311Error(400, "media_url must be an http or https URL of at most 2000 characters")
    slots = _slots(req)
    area_code = _resolve_area(session, req)
    sender = req.account_id or req.device_id
    try:
        data = PetitionCreate(title=_title(req.description), content=req.description, channel=CHANNEL,
                              language="zh" if _CJK.search(req.description) else "en", category=category.code,
                              area_code=area_code, address=req.address_string, petitioner=_petitioner(req), **slots)
    except ValidationError as exc:
        raise Open311Error(400, *(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())) from None
    try:
        petition, _code = cases.create_petition(
            session, data=data, actor=ACTOR, now=now,
            source=cases.source_digest(CHANNEL, f"account:{sender[:200]}") if sender else None)
        attachments = []
        if req.media_url:
            attachments.append({"kind": "url", "url": req.media_url, "source": "open311 media_url"})
        if coordinates:
            attachments.append({"kind": "location", "lat": coordinates[0], "long": coordinates[1], "source": "open311"})
        if attachments:
            cases.do_supplement(session, tracking_no=petition.tracking_no, text="", channel=CHANNEL, actor=ACTOR,
                                attachments=attachments, now=now)
    except cases.CaseError as exc:
        raise Open311Error(400, str(exc)) from None
    due = _local(petition.accept_due_at).date().isoformat()
    notice = (f"已登记为信访事项 {petition.tracking_no}，将于 {due} 前决定是否受理。"
              f" Registered as petition {petition.tracking_no}; a decision on acceptance is due by {due}.")
    return [{"service_request_id": petition.tracking_no, "token": token_for(petition.tracking_no),
             "service_notice": notice, "account_id": req.account_id}]


# GET Service Requests


def _w3(dt: datetime | None) -> str | None:
    return _local(dt).isoformat(timespec="seconds") if dt else None


def _parse_bound(value: str, name: str, *, end: bool) -> datetime:
    value = value.strip()
    zone = ZoneInfo(get_settings().timezone)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        # A bare date means that whole local day.
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise Open311Error(400, f"{name} {_shown(value)} is not a valid date") from None
        start = datetime.combine(day, time(), zone)
        return start + timedelta(days=1) - timedelta(microseconds=1) if end else start
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Open311Error(400, f"{name} {_shown(value)} is not a w3 datetime such as 2010-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a timezone (Z or ±HH:MM), e.g. 2010-01-01T00:00:00Z")
    return parsed


def _listed(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _window(start_date: str | None, end_date: str | None, now: datetime) -> tuple[datetime, datetime]:
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


def _request_out(session: Session, p: Petition, tax: _Taxonomy, areas: dict[str, Area]) -> dict:
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


def _render_rows(session: Session, rows: list[Petition]) -> list[dict]:
    tax = _taxonomy(session)
    areas = {a.code: a for a in catalog.list_areas(session)}
    return [_request_out(session, p, tax, areas) for p in rows]


def _query():
    return (select(Petition).where(Petition.channel == CHANNEL)
            .options(selectinload(Petition.replies), selectinload(Petition.lead_unit))
            .order_by(Petition.received_at.desc(), Petition.id.desc()))


def list_requests(session: Session, *, service_request_id: str | None = None, service_code: str | None = None,
                  start_date: str | None = None, end_date: str | None = None, status: str | None = None,
                  now: datetime | None = None) -> list[dict]:
    """List service requests filed through Open311 by the specification's filters, newest first, at most 1000.

    Values are comma delimited; service_request_id overrides every other filter. Without dates the window is
    the most recent 90 days, and a window may not span more than that.
    """
    now = now or utcnow()
    ids = [i.upper() for i in _listed(service_request_id)]
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
        return _render_rows(session, list(session.scalars(_query().where(Petition.tracking_no.in_(ids)))))
    stmt = _query()
    codes = _listed(service_code)
    if codes:
        tax = _taxonomy(session)
        category_ids: set[int] = set()
        for code in codes:
            found = tax.service(code)
            if found is None:
                raise Open311Error(400, f"service_code {_shown(code)} was not found")
            category_ids.add(found.id)
            if found.level == 2:
                category_ids.update(c.id for c in tax.children.get(found.id, []))
        stmt = stmt.where(Petition.category_id.in_(category_ids))
    wanted = {s.lower() for s in _listed(status)}
    if wanted - {"open", "closed"}:
        raise Open311Error(400, f"status must be open or closed (comma delimited), not {_shown(status or '')}")
    terminal = [s.value for s in TERMINAL]
    if wanted == {"open"}:
        stmt = stmt.where(Petition.status.not_in(terminal))
    elif wanted == {"closed"}:
        stmt = stmt.where(Petition.status.in_(terminal))
    start, end = _window(start_date, end_date, now)
    stmt = stmt.where(Petition.received_at >= start, Petition.received_at <= end).limit(MAX_RESULTS)
    return _render_rows(session, list(session.scalars(stmt)))


def get_request(session: Session, *, service_request_id: str) -> list[dict]:
    """Return one service request, as a list of one; 404 for a petition not filed through Open311."""
    wanted = service_request_id.strip().upper()
    petition = session.scalar(_query().where(Petition.tracking_no == wanted)) if re.fullmatch(TRACKING_NO, wanted) else None
    if petition is None:
        raise Open311Error(404, f"service_request_id {_shown(service_request_id)} was not found")
    return _render_rows(session, [petition])


def get_by_token(session: Session, *, token: str) -> list[dict]:
    """Return the service_request_id a token stands for, with the token."""
    match = _TOKEN.match(token.strip())
    valid = match is not None and hmac.compare_digest(token_for(match.group(1)), match.group(0))
    if not valid or session.scalar(select(Petition.id).where(Petition.tracking_no == match.group(1),
                                                             Petition.channel == CHANNEL)) is None:
        raise Open311Error(404, f"token {_shown(token)} was not found")
    return [{"service_request_id": match.group(1), "token": match.group(0)}]
