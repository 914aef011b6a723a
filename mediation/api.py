"""Mediation routes: the staff JSON API, the invitation (join) pages, recording uploads and the signalling WebSocket."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Form, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from cases.service import CaseError
from core.db import Database
from core.settings import get_settings
from core.web import StaffActor, transaction
from mediation import agreement, recordings, rooms, service, signalling
from mediation.enums import INVITE_LABELS, KIND_LABELS, OUTCOME_LABELS, ROLE_LABELS, STATUS_LABELS, SessionStatus
from mediation.models import MediationParticipant, MediationSession
from mediation.schemas import (
    AgreementIn,
    ConfirmOut,
    EndIn,
    ParticipantOut,
    RecordingOut,
    SessionCreate,
    SessionOut,
)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_FILES = {"room.js": "text/javascript; charset=utf-8", "room.css": "text/css; charset=utf-8",
                # The LiveKit provider's browser SDK (livekit-client's UMD build), placed here by the operator.
                "livekit-client.umd.min.js": "text/javascript; charset=utf-8"}
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True))

router = APIRouter()

REFUSALS: dict[str, tuple[str, str]] = {
    "tampered": ("此链接无效或已被改动。请使用您收到的完整邀请链接。",
                 "This link is not valid or has been altered. Use the complete invitation link you received."),
    "expired": ("此邀请链接已过期。如仍需参加，请联系信访部门重新发送。",
                "This invitation has expired. Ask the petition office for a new one if you still need to join."),
    "other_session": ("此邀请链接不属于这场会议。", "This invitation is for another session."),
    "revoked": ("此链接已被新的邀请链接取代，请使用最新收到的链接。",
                "This link was replaced by a newer invitation; use the latest one you received."),
    "removed": ("主持人已将您移出本次会议。", "The host has removed you from this session."),
    "cancelled": ("本次会议已取消。", "This session has been cancelled."),
    "ended": ("本次会议已结束。", "This session has ended."),
}


def _t(lang: str):
    def pick(zh: str, en: str) -> str:
        return en if lang == "en" else zh
    return pick


def _fail(exc: CaseError) -> HTTPException:
    return HTTPException(getattr(exc, "status", 400), str(exc))


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or \
        request.headers.get("content-type", "").startswith("application/json")


def _db(request: Request) -> Database:
    return request.app.state.db


# ---- the staff JSON API ---------------------------------------------------------------------------------------

def session_out(ms: MediationSession, *, tracking_no: str, links: bool, recordings_list=()) -> SessionOut:
    """Return the API view of a session; invitation links only for those who run it."""
    return SessionOut(
        id=ms.id, tracking_no=tracking_no, kind=ms.kind, title=ms.title, status=ms.status, starts_at=ms.starts_at,
        ends_at=ms.ends_at, host=ms.host, provider=ms.provider, started_at=ms.started_at, ended_at=ms.ended_at,
        terms=ms.terms, terms_version=ms.terms_version, outcome=ms.outcome, outcome_reason=ms.outcome_reason,
        case_action=ms.case_action,
        participants=[ParticipantOut(
            id=p.id, role=p.role, username=p.username, name=p.name, organisation=p.organisation, is_host=p.is_host,
            party=p.party, invite_status=p.invite_status, invite_channel=p.invite_channel,
            admitted=service.is_admitted(p), joined_at=p.joined_at, left_at=p.left_at, removed=p.removed_at is not None,
            confirmed=p.party and p.confirmed_version == ms.terms_version and ms.terms_version > 0,
            join_url=service.join_url(service.invite_token(p, ms)) if links else None) for p in ms.participants],
        recordings=[RecordingOut(id=r.id, status=r.status, size=r.size, attachment_ids=list(r.attachment_ids or []),
                                 transcript_status=r.transcript_status) for r in recordings_list])


def _out(session, ms: MediationSession, actor) -> SessionOut:
    petition = service.petition_of(session, ms)
    return session_out(ms, tracking_no=petition.tracking_no, links=service.can_manage(ms, actor),
                       recordings_list=recordings.list_recordings(session, session_id=ms.id))


@router.post("/api/v1/mediation/sessions", response_model=SessionOut, status_code=201, tags=["mediation"])
def create_session(request: Request, body: SessionCreate, actor: StaffActor) -> SessionOut:
    """Schedule a video reception or joint mediation for a petition and send the invitations."""
    try:
        with transaction(request) as session:
            ms = service.create_session(session, data=body, actor=actor)
            return _out(session, ms, actor)
    except CaseError as exc:
        raise _fail(exc) from None


@router.get("/api/v1/mediation/sessions", response_model=list[SessionOut], tags=["mediation"])
def list_sessions(request: Request, actor: StaffActor, open_only: bool = Query(False)) -> list[SessionOut]:
    """List the sessions the caller hosts or is invited to (supervisors: all), newest first."""
    with transaction(request) as session:
        return [_out(session, ms, actor) for ms in service.list_sessions(session, actor=actor, include_past=not open_only)]


@router.get("/api/v1/mediation/sessions/{session_id}", response_model=SessionOut, tags=["mediation"])
def get_session(request: Request, session_id: int, actor: StaffActor) -> SessionOut:
    """Return a session with its participants, agreement, outcome and recordings."""
    try:
        with transaction(request) as session:
            return _out(session, service.access_session(session, session_id, actor), actor)
    except CaseError as exc:
        raise _fail(exc) from None


@router.post("/api/v1/mediation/sessions/{session_id}/agreement", response_model=SessionOut, tags=["mediation"])
def set_agreement(request: Request, session_id: int, body: AgreementIn, actor: StaffActor) -> SessionOut:
    """Write the agreement's terms (a new version needs every party's confirmation again)."""
    try:
        with transaction(request) as session:
            ms = agreement.do_set_agreement(session, session_id=session_id, terms=body.terms, actor=actor)
            out = _out(session, ms, actor)
    except CaseError as exc:
        raise _fail(exc) from None
    rooms.hub.post(session_id, {"type": "agreement"})
    return out


@router.post("/api/v1/mediation/sessions/{session_id}/end", response_model=SessionOut, tags=["mediation"])
def end_session(request: Request, session_id: int, body: EndIn, actor: StaffActor) -> SessionOut:
    """End the call; with ``no_agreement`` the session's outcome is recorded as no agreement, with the reason."""
    try:
        with transaction(request) as session:
            if body.no_agreement:
                ms = agreement.do_no_agreement(session, session_id=session_id, reason=body.reason or "", actor=actor)
            else:
                ms = service.do_end_call(session, session_id=session_id, actor=actor)
            out = _out(session, ms, actor)
    except CaseError as exc:
        raise _fail(exc) from None
    rooms.hub.close_all(session_id, {"type": "ended"})
    return out


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/api/v1/mediation/sessions/{session_id}/cancel", response_model=SessionOut, tags=["mediation"])
def cancel_session(request: Request, session_id: int, body: CancelIn, actor: StaffActor) -> SessionOut:
    """Cancel a session that has not begun; invited citizens are told."""
    try:
        with transaction(request) as session:
            ms = service.do_cancel(session, session_id=session_id, reason=body.reason, actor=actor)
            out = _out(session, ms, actor)
    except CaseError as exc:
        raise _fail(exc) from None
    rooms.hub.close_all(session_id, {"type": "ended"})
    return out


@router.post("/api/v1/mediation/sessions/{session_id}/participants/{participant_id}/invitation", tags=["mediation"])
def reissue_invitation(request: Request, session_id: int, participant_id: int, actor: StaffActor) -> dict:
    """Replace a participant's link (the old one stops working) and send it again."""
    try:
        with transaction(request) as session:
            token = service.do_reissue_invitation(session, session_id=session_id, participant_id=participant_id,
                                                  actor=actor)
    except CaseError as exc:
        raise _fail(exc) from None
    return {"join_url": service.join_url(token)}


# ---- invitation pages -----------------------------------------------------------------------------------------

def _lang(request: Request, participant: MediationParticipant | None) -> str:
    chosen = request.query_params.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    if participant is not None:
        return participant.locale
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "zh"


def _refused(request: Request, exc: service.InviteRefused) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=exc.status)
    lang = _lang(request, None)
    message = REFUSALS.get(exc.reason, (str(exc), str(exc)))
    response = templates.TemplateResponse(request, "refused.html", {"t": _t(lang), "lang": lang, "message": message,
                                                                    "reason": exc.reason}, status_code=exc.status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _labels() -> dict:
    return {"roles": ROLE_LABELS, "kinds": KIND_LABELS, "statuses": STATUS_LABELS, "outcomes": OUTCOME_LABELS,
            "invites": INVITE_LABELS}


def _agreement_context(ms: MediationSession, participant: MediationParticipant) -> dict:
    parties = [p for p in ms.participants if p.party]
    return {"ms": ms, "me": participant, "parties": parties, "waiting": agreement.waiting_for(ms) if ms.terms else parties,
            "confirmed_me": participant.party and ms.terms_version > 0 and participant.confirmed_version == ms.terms_version}


def _page_context(request: Request, session, participant: MediationParticipant, token: str) -> dict:
    ms = participant.session
    petition = service.petition_of(session, ms)
    lang = _lang(request, participant)
    settings = get_settings()
    config = {
        "token": token, "sessionId": ms.id, "participantId": participant.id, "host": participant.is_host,
        "wsPath": f"/mediation/ws/{ms.id}?token={token}", "provider": ms.provider, "lang": lang,
        "roles": {k: v[1] if lang == "en" else v[0] for k, v in ROLE_LABELS.items()},
        "agreementPath": f"/mediation/join/{token}/agreement", "recordPath": f"/mediation/join/{token}/recordings",
        "iceServers": signalling.ice_servers(settings, identity=f"p{participant.id}"),
    }
    return {"t": _t(lang), "lang": lang, "ms": ms, "me": participant, "petition": petition, "token": token,
            "config": config, "labels": _labels(), "done": request.query_params.get("done"),
            "ended": ms.status in (SessionStatus.ENDED, SessionStatus.CANCELLED),
            "when": ms.starts_at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M"),
            **_agreement_context(ms, participant)}


@router.get("/mediation/join/{token}", include_in_schema=False)
def join_page(request: Request, token: str) -> Response:
    """Show the room of an invitation: the waiting room, video, host controls and the agreement."""
    try:
        with transaction(request) as session:
            participant = service.access_invite(session, token)
            response = templates.TemplateResponse(request, "join.html", _page_context(request, session, participant, token))
    except service.InviteRefused as exc:
        return _refused(request, exc)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/mediation/join/{token}/agreement", include_in_schema=False)
def agreement_fragment(request: Request, token: str) -> Response:
    """Return the agreement panel of the join page (refreshed when the terms or confirmations change)."""
    try:
        with transaction(request) as session:
            participant = service.access_invite(session, token)
            lang = _lang(request, participant)
            context = {"t": _t(lang), "lang": lang, "token": token, "labels": _labels(),
                       **_agreement_context(participant.session, participant)}
            response = templates.TemplateResponse(request, "_agreement.html", context)
    except service.InviteRefused as exc:
        return _refused(request, exc)
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(token: str, done: str, lang: str | None) -> RedirectResponse:
    suffix = f"&lang={lang}" if lang in ("zh", "en") else ""
    return RedirectResponse(f"/mediation/join/{token}?done={done}{suffix}#agreement", status_code=303)


@router.post("/mediation/join/{token}/confirm", include_in_schema=False)
def confirm(request: Request, token: str, lang: str | None = Query(None)) -> Response:
    """Confirm the agreement as a party through one's own link; the last confirmation moves the case on."""
    try:
        with transaction(request) as session:
            ms = agreement.do_confirm(session, token=token)
            out = ConfirmOut(confirmed=True, outcome=ms.outcome, case_action=ms.case_action,
                             waiting_for=[str(p.role) for p in agreement.waiting_for(ms)])
            session_id = ms.id
    except service.InviteRefused as exc:
        return _refused(request, exc)
    except CaseError as exc:
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        return _refused(request, service.InviteRefused("unavailable", str(exc))) if exc.status == 404 else \
            HTMLResponse(_plain_error(str(exc)), status_code=exc.status)
    rooms.hub.post(session_id, {"type": "agreement"})
    if _wants_json(request):
        return JSONResponse(out.model_dump())
    return _back(token, "confirmed", lang)


def _plain_error(text: str) -> str:
    from markupsafe import escape

    return (f"<!doctype html><meta charset=utf-8><title>无法完成 Could not be done</title>"
            f"<p>{escape(text)}</p><p><a href=\"javascript:history.back()\">返回 Back</a></p>")


def _as_host(session, token: str):
    participant = service.access_invite(session, token)
    return participant, service.host_actor_for(session, participant)


@router.post("/mediation/join/{token}/agreement", include_in_schema=False)
def host_agreement(request: Request, token: str, terms: Annotated[str, Form()], lang: str | None = Query(None)
                   ) -> Response:
    """Write the agreement's terms from the room (host only)."""
    try:
        with transaction(request) as session:
            participant, actor = _as_host(session, token)
            agreement.do_set_agreement(session, session_id=participant.session_id, terms=terms, actor=actor)
            session_id = participant.session_id
    except service.InviteRefused as exc:
        return _refused(request, exc)
    except CaseError as exc:
        if _wants_json(request) or request.headers.get("x-requested-with") == "fetch":
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        return HTMLResponse(_plain_error(str(exc)), status_code=exc.status)
    rooms.hub.post(session_id, {"type": "agreement"})
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"ok": True})
    return _back(token, "terms", lang)


@router.post("/mediation/join/{token}/no-agreement", include_in_schema=False)
def host_no_agreement(request: Request, token: str, reason: Annotated[str, Form()], lang: str | None = Query(None)
                      ) -> Response:
    """End the session without an agreement, with the reason (host only)."""
    try:
        with transaction(request) as session:
            participant, actor = _as_host(session, token)
            agreement.do_no_agreement(session, session_id=participant.session_id, reason=reason, actor=actor)
            session_id = participant.session_id
    except service.InviteRefused as exc:
        return _refused(request, exc)
    except CaseError as exc:
        return HTMLResponse(_plain_error(str(exc)), status_code=exc.status)
    rooms.hub.close_all(session_id, {"type": "ended"})
    return _back(token, "no_agreement", lang)


# ---- recording uploads (host only) ---------------------------------------------------------------------------

@router.put("/mediation/join/{token}/recordings/{recording_id}/chunks/{seq}", include_in_schema=False)
async def upload_chunk(request: Request, token: str, recording_id: int, seq: int) -> Response:
    """Store a few seconds of a running recording from the host's browser."""
    data = await request.body()
    mime = request.headers.get("content-type")

    def store() -> None:
        with transaction(request) as session:
            participant = service.access_invite(session, token)
            recordings.add_chunk(session, participant=participant, recording_id=recording_id, seq=seq, data=data, mime=mime)

    from anyio import to_thread

    try:
        await to_thread.run_sync(store)
    except service.InviteRefused as exc:
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=exc.status)
    except CaseError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return Response(status_code=204)


@router.post("/mediation/join/{token}/recordings/{recording_id}/finish", include_in_schema=False)
def finish_recording(request: Request, token: str, recording_id: int) -> JSONResponse:
    """Stop a recording; it is converted and attached to the case in the background."""
    try:
        with transaction(request) as session:
            participant = service.access_invite(session, token)
            rec = recordings.do_finish(session, participant=participant, recording_id=recording_id)
            status = str(rec.status)
    except service.InviteRefused as exc:
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=exc.status)
    except CaseError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return JSONResponse({"status": status}, status_code=202)


# ---- signalling and static files -------------------------------------------------------------------------------

@router.websocket("/mediation/ws/{session_id}")
async def signalling_socket(socket: WebSocket, session_id: int, token: str = "") -> None:
    """Carry one participant's waiting room, host controls and WebRTC signalling."""
    await signalling.serve(socket, db=socket.app.state.db, session_id=session_id, token=token)


@router.get("/mediation/static/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    """Serve the join page's script and style."""
    if name not in STATIC_FILES or not (STATIC / name).is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

