"""Open311 GeoReport v2 routes under /open311/v2: parse, call one service function, render JSON or XML.

Every resource takes its format as a suffix (``.json`` or ``.xml``); errors come back in the
specification's format (a list of code and description) with the HTTP status 400, 403 or 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from channels.open311 import service
from channels.open311.render import FORMATS, render, render_errors
from core.web import transaction

router = APIRouter(prefix="/open311/v2", tags=["open311"])

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_POST_FIELDS = {name: {"type": "string"} for name in (
    "api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id", "email", "device_id",
    "account_id", "first_name", "last_name", "phone", "description", "media_url", "attribute[area]", "attribute[demand]",
    "attribute[head_count]", "attribute[occurred_on]", "attribute[previous_tracking_no]")}
_POST_BODY = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
    "schema": {"type": "object", "required": ["api_key", "service_code", "description"], "properties": _POST_FIELDS}}}}}
Many = Annotated[list[str] | None, Query(description="comma delimited; may be repeated")]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise service.Open311Error(404, f"format {fmt[:20]!r} is not offered here: use .json or .xml")


def _split(name: str) -> tuple[str, str]:
    # The resource id and its format; an id without a suffix gets JSON.
    base, dot, fmt = name.rpartition(".")
    return (base, fmt) if dot and fmt in FORMATS else (name, "json")


def _answer(request: Request, fmt: str, root: str, jurisdiction_id: str | None, call: Callable[[Session], object]
            ) -> Response:
    try:
        _check_format(fmt)
        service.check_jurisdiction(jurisdiction_id)
        with transaction(request) as session:
            data = call(session)
    except service.Open311Error as exc:
        return render_errors(exc.status, exc.descriptions, fmt=fmt)
    return render(data, fmt=fmt, root=root)


def _joined(values: list[str] | None) -> str | None:
    return ",".join(values) if values else None


@router.get("/discovery.{fmt}")
def discovery(fmt: str) -> Response:
    """Describe this endpoint for service discovery: specification, URL, formats."""
    try:
        _check_format(fmt)
    except service.Open311Error as exc:
        return render_errors(exc.status, exc.descriptions, fmt=fmt)
    return render(service.get_discovery(), fmt=fmt, root="discovery")


@router.get("/services.{fmt}")
def list_services(request: Request, fmt: str, jurisdiction_id: str | None = None) -> Response:
    """List the service types: the first- and second-level petition categories."""
    return _answer(request, fmt, "services", jurisdiction_id, service.list_services)


@router.get("/services/{service_code}.{fmt}")
def get_service_definition(request: Request, service_code: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
    """Return a service's definition: the petition's intake slots as attributes."""
    return _answer(request, fmt, "service_definition", jurisdiction_id,
                   lambda s: service.get_service_definition(s, service_code=service_code))


async def _form_items(request: Request) -> list[tuple[str, str]]:
    items = list(request.query_params.multi_items())
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _FORM_TYPES:
        try:
            form = await request.form()
        except Exception:
            raise service.Open311Error(400, "the form body could not be read") from None
        # Uploaded files are not taken; media comes as media_url.
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    elif (await request.body()).strip():
        raise service.Open311Error(400, "send the request as application/x-www-form-urlencoded, as GeoReport v2 asks")
    return items


def _create(request: Request, req: service.RequestIn) -> list[dict]:
    with transaction(request) as session:
        return service.create_request(session, req=req)


@router.post("/requests.{fmt}", openapi_extra=_POST_BODY)
async def create_request(request: Request, fmt: str) -> Response:
    """File a service request (form encoded, with the API key): it becomes a petition on the open311 channel."""
    try:
        _check_format(fmt)
        req = service.parse_request(await _form_items(request))
        service.check_api_key(req.api_key)
        service.check_jurisdiction(req.jurisdiction_id)
        data = await run_in_threadpool(_create, request, req)
    except service.Open311Error as exc:
        return render_errors(exc.status, exc.descriptions, fmt=fmt)
    return render(data, fmt=fmt, root="service_requests")


@router.get("/requests.{fmt}")
def list_requests(request: Request, fmt: str, service_request_id: Many = None, service_code: Many = None,
                  start_date: str | None = None, end_date: str | None = None, status: Many = None,
                  jurisdiction_id: str | None = None) -> Response:
    """List service requests by id, service, date window (90 days at most) and status (open, closed)."""
    return _answer(request, fmt, "service_requests", jurisdiction_id, lambda s: service.list_requests(
        s, service_request_id=_joined(service_request_id), service_code=_joined(service_code), start_date=start_date,
        end_date=end_date, status=_joined(status)))


@router.get("/requests/{name}")
def get_request(request: Request, name: str, jurisdiction_id: str | None = None) -> Response:
    """Return one service request (``/requests/{service_request_id}.json`` or ``.xml``)."""
    request_id, fmt = _split(name)
    return _answer(request, fmt, "service_requests", jurisdiction_id,
                   lambda s: service.get_request(s, service_request_id=request_id))


@router.get("/tokens/{name}")
def get_token(request: Request, name: str, jurisdiction_id: str | None = None) -> Response:
    """Return the service_request_id a token from POST stands for (``/tokens/{token}.json`` or ``.xml``)."""
    token, fmt = _split(name)
    return _answer(request, fmt, "service_requests", jurisdiction_id, lambda s: service.get_by_token(s, token=token))


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def unknown(rest: str) -> Response:
    """Answer any other path under the prefix with the specification's 404."""
    return render_errors(404, [f"no resource {rest[:100]!r} here; GeoReport v2 resources end in .json or .xml"],
                         fmt=_split(rest)[1])
