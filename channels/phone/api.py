"""Phone routes (Twilio Voice): check and parse each signed webhook, answer it with the TwiML ``service`` returns.

A call goes: ``/incoming`` (greeting in Chinese, 9 for English) → ``<Record>`` → ``/recording`` (download
the audio, transcribe it, run the bot, answer with <Say> and the next <Record>) → … Choices, head-counts
and phone numbers are taken on the keypad (``<Gather>`` → ``/gather``) because recognisers mangle digit
strings; a handoff dials the configured agent number or queue. Twilio gives up on a webhook after 15 s,
so a turn that takes longer than ``service.SYNC_BUDGET_S`` to transcribe answers "one moment" and redirects
to ``/turn``, which picks up the finished work. The audio and transcript of every turn stay in the inbox
(``media``) under the conversation that registered the petition.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request, Response

from channels.phone import service
from channels.sms import adapter as twilio
from core.db import Database
from core.settings import Settings

router = APIRouter(prefix="/channels/phone/twilio", tags=["phone"])
TWIML = "application/xml"


def _xml(text: str) -> Response:
    return Response(text, media_type=TWIML)


def _seq(request: Request) -> int:
    raw = request.query_params.get("seq", "0")
    if not raw.isdigit():
        raise HTTPException(400, "seq must be a number")
    return int(raw)


def _duration(params: dict[str, str]) -> int:
    raw = (params.get("RecordingDuration") or "0").strip()
    try:
        return int(float(raw))
    except ValueError:
        raise HTTPException(400, "RecordingDuration is not a number") from None


def _digits(params: dict[str, str]) -> str:
    return (params.get("Digits") or "").strip()


async def _call_webhook(request: Request) -> tuple[Settings, Database, dict[str, str], str]:
    # Every phone webhook is signed by Twilio (403 otherwise) and belongs to one call: its CallSid comes back too.
    settings = request.app.state.settings
    params = await twilio.twilio_form(request, settings)
    return settings, request.app.state.db, params, twilio.require(params, "CallSid", "call")


@router.post("/incoming")
async def incoming(request: Request) -> Response:
    """Answer a new call: a greeting (or the unfinished form where the caller left it, or the agent queue)."""
    settings, db, params, _ = await _call_webhook(request)
    return _xml(await to_thread.run_sync(service.answer_call, db, settings, params))


@router.post("/language")
async def language(request: Request) -> Response:
    """Switch the call to English when the caller pressed 9 during the greeting."""
    settings, db, params, call_sid = await _call_webhook(request)
    digits = _digits(params)
    return _xml(await to_thread.run_sync(lambda: service.do_language(db, settings, params, call_sid=call_sid,
                                                                     digits=digits)))


@router.post("/recording")
async def recording(request: Request) -> Response:
    """Take one recorded turn: refuse a silent or over-long one clearly, otherwise transcribe it and answer."""
    settings, db, params, call_sid = await _call_webhook(request)
    seq = _seq(request)
    digits = _digits(params)
    duration = _duration(params)
    recording_sid = params.get("RecordingSid") or ""
    if recording_sid and not twilio.SID["recording"].match(recording_sid):
        raise HTTPException(400, "RecordingSid is not a Twilio recording SID")
    return _xml(await to_thread.run_sync(lambda: service.do_recording(
        db, settings, params, call_sid=call_sid, seq=seq, digits=digits, duration=duration,
        recording_sid=recording_sid)))


@router.post("/turn")
async def turn(request: Request) -> Response:
    """Pick up a turn that was still being transcribed when Twilio's time ran out."""
    settings, db, params, _ = await _call_webhook(request)
    recording_sid = request.query_params.get("rec", "")
    if not twilio.SID["recording"].match(recording_sid):
        raise HTTPException(400, "rec is not a Twilio recording SID")
    seq = _seq(request)
    polls = int(request.query_params.get("n", "1")) if request.query_params.get("n", "1").isdigit() else 1
    return _xml(await to_thread.run_sync(lambda: service.pick_up_turn(db, settings, params, recording_sid=recording_sid,
                                                                      seq=seq, polls=polls)))


@router.post("/gather")
async def gather(request: Request) -> Response:
    """Take a keypad answer: a numbered choice, a head-count or a phone number, as the text the bot expects."""
    settings, db, params, call_sid = await _call_webhook(request)
    seq = _seq(request)
    kind = request.query_params.get("kind", "")
    if kind not in ("choice", "number", "phone"):
        raise HTTPException(400, "kind must be choice, number or phone")
    digits = _digits(params)
    return _xml(await to_thread.run_sync(lambda: service.do_gather(db, settings, params, call_sid=call_sid, kind=kind,
                                                                   digits=digits, seq=seq)))
