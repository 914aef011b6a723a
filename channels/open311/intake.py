"""POST Service Request: the form's fields read, checked and mapped onto a new petition."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cases import catalog
from cases.models import Area
from cases.schemas import TRACKING_NO, PetitionCreate, PetitionerIn
from channels.open311.catalogue import ATTRIBUTE_CODES
from channels.open311.common import CHANNEL, Open311Error, shown
from nlu.areas import AreaIndex

MAX_DESCRIPTION = 4000  # the specification's limit
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_FIELDS = ("jurisdiction_id", "api_key", "service_code", "lat", "long", "address_string", "address_id", "email",
           "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url")
_WHERE = ("send attribute[area] with one of the district codes of the service definition, "
          "or an address_string that names the district (区/县/市)")


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


def check_required(req: RequestIn) -> None:
    """Refuse a request without a service_code, a location or a description, or with too long a description."""
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
            raise Open311Error(400, f"attribute[area] {shown(chosen)} is not one of the district codes of the service "
                                    "definition")
        # A street the address names inside the chosen district is more precise still.
        streets = [s for s in spelled if s.level == "street" and index.is_ancestor(ref.code, s.code)]
        return streets[0].code if streets else ref.code
    if req.address_id and req.address_id in by_code and by_code[req.address_id].level in ("district", "street"):
        return req.address_id
    if spelled:
        return spelled[0].code
    if req.address_string:
        raise Open311Error(400, f"address_string {shown(req.address_string)} names no district here: {_WHERE}")
    if req.address_id:
        raise Open311Error(400, f"address_id {shown(req.address_id)} is not an area code known here: {_WHERE}")
    raise Open311Error(400, f"a location by lat/long alone cannot be placed in a district here: {_WHERE}")


def _slots(req: RequestIn) -> dict:
    unknown = sorted(set(req.attributes) - set(ATTRIBUTE_CODES))
    if unknown:
        raise Open311Error(400, *(f"unknown attribute[{code}]; the service definition has {', '.join(ATTRIBUTE_CODES)}"
                                  for code in unknown))
    out: dict = {}
    if (count := _single(req, "head_count")) is not None:
        if not re.fullmatch(r"\d{1,6}(\.0*)?", count) or not 1 <= int(float(count)) <= 100_000:
            raise Open311Error(400, f"attribute[head_count] must be a whole number from 1 to 100000, not {shown(count)}")
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
            raise Open311Error(400, f"attribute[previous_tracking_no] {shown(previous)} is not a tracking number "
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


def to_petition(session: Session, *, req: RequestIn, category: str) -> tuple[PetitionCreate, list[dict]]:
    """Map a checked request of a known service onto a new petition and the attachments that follow it."""
    coordinates = _coordinates(req)
    if req.address_string and len(req.address_string) > 300:
        raise Open311Error(400, "address_string is longer than 300 characters")
    if req.media_url and (len(req.media_url) > 2000 or not re.match(r"^https?://[^\s]+$", req.media_url, re.I)):
        raise Open311Error(400, "media_url must be an http or https URL of at most 2000 characters")
    slots = _slots(req)
    area_code = _resolve_area(session, req)
    try:
        data = PetitionCreate(title=_title(req.description), content=req.description, channel=CHANNEL,
                              language="zh" if _CJK.search(req.description) else "en", category=category,
                              area_code=area_code, address=req.address_string, petitioner=_petitioner(req), **slots)
    except ValidationError as exc:
        raise Open311Error(400, *(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())) from None
    attachments = []
    if req.media_url:
        attachments.append({"kind": "url", "url": req.media_url, "source": "open311 media_url"})
    if coordinates:
        attachments.append({"kind": "location", "lat": coordinates[0], "long": coordinates[1], "source": "open311"})
    return data, attachments
