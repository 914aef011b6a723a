"""Open311 GeoReport v2 mapped onto the case domain, whatever the output format.

Services are the first- and second-level categories of the taxonomy, their attributes the intake slots a
petition needs beyond its description (``catalogue``). A service request is a petition filed through this
channel (``intake``); its service_request_id is the tracking number. Answers are lists and dicts keyed by the
specification's field names in its order, so that ``render`` writes them as JSON or XML alike.

GET answers are public, so they show nothing that names the citizen and only petitions filed through
Open311 (``listing`` says what is left out and why).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import service as cases
from cases.enums import TERMINAL
from cases.models import Petition
from cases.schemas import TRACKING_NO
from channels.open311 import intake, listing
from channels.open311.catalogue import ATTRIBUTE_CODES, get_taxonomy, list_attributes, service_out
from channels.open311.common import CHANNEL, Open311Error, local, shown
from channels.open311.intake import MAX_DESCRIPTION, RequestIn, parse_request
from channels.open311.listing import MAX_SPAN
from core.accounts import Actor, Role
from core.db import utcnow
from core.security import Signer
from core.settings import Environment, get_settings

__all__ = ["ACTOR", "ATTRIBUTE_CODES", "CHANGESET", "CHANNEL", "MAX_DESCRIPTION", "MAX_IDS", "MAX_RESULTS", "MAX_SPAN",
           "SPECIFICATION", "Open311Error", "RequestIn", "check_api_key", "check_jurisdiction", "create_request",
           "get_by_token", "get_discovery", "get_request", "get_service_definition", "list_requests", "list_services",
           "parse_request", "token_for"]

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable; bump it when the shape of the service list or the service definitions changes.
CHANGESET = "2026-12-04 00:00"
ACTOR = Actor("open311", Role.AGENT)
MAX_RESULTS = 1000
MAX_IDS = 1000
_TOKEN = re.compile(r"^(XF-\d{8}-\d{6})-([0-9a-f]{24})$", re.ASCII)


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """Refuse a jurisdiction_id other than the one this endpoint serves; an absent one is fine."""
    served = get_settings().open311_jurisdiction_id
    if jurisdiction_id and jurisdiction_id.strip() and jurisdiction_id.strip().lower() != served.lower():
        raise Open311Error(404, f"jurisdiction_id {shown(jurisdiction_id)} was not found; this endpoint serves {served}")


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


def list_services(session: Session) -> list[dict]:
    """List the service types: the first- and second-level categories, grouped by their first-level one."""
    tax = get_taxonomy(session)
    return [service_out(c, tax) for c in tax.by_code.values() if c.level <= 2]


def get_service_definition(session: Session, *, service_code: str) -> dict:
    """Return a service's definition: the intake slots a petition of it takes as attributes."""
    if not service_code.strip():
        raise Open311Error(400, "service_code was not provided")
    found = get_taxonomy(session).service(service_code)
    if found is None:
        raise Open311Error(404, f"service_code {shown(service_code)} was not found")
    return {"service_code": found.code, "attributes": list_attributes(session)}


def _signer() -> Signer:
    return Signer(get_settings().secret_key.get_secret_value(), b"open311-token")


def token_for(tracking_no: str) -> str:
    """Return the token that stands for a service request (the tracking number and a MAC over it)."""
    return f"{tracking_no}-{_signer().sign(tracking_no.encode())[:24]}"


def create_request(session: Session, *, req: RequestIn, now: datetime | None = None) -> list[dict]:
    """Register a petition from a POST Service Request; the caller has checked the API key and jurisdiction."""
    now = now or utcnow()
    intake.check_required(req)
    category = get_taxonomy(session).service(req.service_code)
    if category is None:
        raise Open311Error(404, f"service_code {shown(req.service_code)} was not found")
    data, attachments = intake.to_petition(session, req=req, category=category.code)
    sender = req.account_id or req.device_id
    try:
        petition, _code = cases.create_petition(
            session, data=data, actor=ACTOR, now=now,
            source=cases.source_digest(CHANNEL, f"account:{sender[:200]}") if sender else None)
        if attachments:
            cases.do_supplement(session, tracking_no=petition.tracking_no, text="", channel=CHANNEL, actor=ACTOR,
                                attachments=attachments, now=now)
    except cases.CaseError as exc:
        raise Open311Error(400, str(exc)) from None
    due = local(petition.accept_due_at).date().isoformat()
    notice = (f"已登记为信访事项 {petition.tracking_no}，将于 {due} 前决定是否受理。"
              f" Registered as petition {petition.tracking_no}; a decision on acceptance is due by {due}.")
    return [{"service_request_id": petition.tracking_no, "token": token_for(petition.tracking_no),
             "service_notice": notice, "account_id": req.account_id}]


def list_requests(session: Session, *, service_request_id: str | None = None, service_code: str | None = None,
                  start_date: str | None = None, end_date: str | None = None, status: str | None = None,
                  now: datetime | None = None) -> list[dict]:
    """List service requests filed through Open311 by the specification's filters, newest first, at most 1000.

    Values are comma delimited; service_request_id overrides every other filter. Without dates the window is
    the most recent 90 days, and a window may not span more than that.
    """
    now = now or utcnow()
    ids = [i.upper() for i in listing.listed(service_request_id)]
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
        return listing.requests_out(session, list(session.scalars(listing.query().where(Petition.tracking_no.in_(ids)))))
    stmt = listing.query()
    codes = listing.listed(service_code)
    if codes:
        tax = get_taxonomy(session)
        category_ids: set[int] = set()
        for code in codes:
            found = tax.service(code)
            if found is None:
                raise Open311Error(400, f"service_code {shown(code)} was not found")
            category_ids.add(found.id)
            if found.level == 2:
                category_ids.update(c.id for c in tax.children.get(found.id, []))
        stmt = stmt.where(Petition.category_id.in_(category_ids))
    wanted = {s.lower() for s in listing.listed(status)}
    if wanted - {"open", "closed"}:
        raise Open311Error(400, f"status must be open or closed (comma delimited), not {shown(status or '')}")
    terminal = [s.value for s in TERMINAL]
    if wanted == {"open"}:
        stmt = stmt.where(Petition.status.not_in(terminal))
    elif wanted == {"closed"}:
        stmt = stmt.where(Petition.status.in_(terminal))
    start, end = listing.window(start_date, end_date, now)
    stmt = stmt.where(Petition.received_at >= start, Petition.received_at <= end).limit(MAX_RESULTS)
    return listing.requests_out(session, list(session.scalars(stmt)))


def get_request(session: Session, *, service_request_id: str) -> list[dict]:
    """Return one service request, as a list of one; 404 for a petition not filed through Open311."""
    wanted = service_request_id.strip().upper()
    petition = (session.scalar(listing.query().where(Petition.tracking_no == wanted))
                if re.fullmatch(TRACKING_NO, wanted) else None)
    if petition is None:
        raise Open311Error(404, f"service_request_id {shown(service_request_id)} was not found")
    return listing.requests_out(session, [petition])


def get_by_token(session: Session, *, token: str) -> list[dict]:
    """Return the service_request_id a token stands for, with the token."""
    match = _TOKEN.match(token.strip())
    valid = match is not None and hmac.compare_digest(token_for(match.group(1)), match.group(0))
    if not valid or session.scalar(select(Petition.id).where(Petition.tracking_no == match.group(1),
                                                             Petition.channel == CHANNEL)) is None:
        raise Open311Error(404, f"token {shown(token)} was not found")
    return [{"service_request_id": match.group(1), "token": match.group(0)}]
