"""SMS routes (Twilio): the inbound message webhook, answered in TwiML, and the delivery status callback.

Every request must carry a valid ``X-Twilio-Signature`` for the public URL it was sent to (403 when it
is missing or forged). A repeated delivery of one MessageSid returns the answer stored the first time.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request, Response

from bot import service as conversations
from channels import service
from channels.sms import adapter
from core.db import Database

log = logging.getLogger(__name__)
router = APIRouter(prefix="/channels/sms/twilio", tags=["sms"])
TWIML = "application/xml"


def _media(params: dict[str, str]) -> dict | None:
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        raise HTTPException(400, "NumMedia is not a number") from None
    items = [{"url": params.get(f"MediaUrl{i}", ""), "content_type": params.get(f"MediaContentType{i}", "")}
             for i in range(min(count, 10)) if params.get(f"MediaUrl{i}")]
    if not items:
        return None
    kind = items[0]["content_type"].split("/")[0] or "file"
    return {"type": kind if kind in ("image", "audio", "video") else "file", "url": items[0]["url"],
            "content_type": items[0]["content_type"], "items": items}


def handle_inbound(db: Database, params: dict[str, str]) -> list[str]:
    """Run one inbound SMS through the inbox and the bot (or the opt-out rules); return the texts to answer."""
    sid = adapter.require(params, "MessageSid", "message") if params.get("MessageSid") else \
        adapter.require(params, "SmsSid", "message")
    sender = adapter.require(params, "From")
    body = params.get("Body") or ""
    msg = service.InboundMessage(channel=adapter.CHANNEL, sender=sender[:128], message_id=sid, text=body,
                                 media=_media(params))
    word = adapter.keyword(body)
    if word in adapter.STOP_WORDS:
        return [r.text for r in adapter.do_opt_out(db, msg)]
    with db.session() as session:
        opted_out = adapter.opted_out(session, msg.sender)
    if word in adapter.START_WORDS or (opted_out and word == "YES"):
        return [r.text for r in adapter.do_opt_in(db, msg)]
    if opted_out:
        # STOP means nothing more is sent: the message is kept, the bot does not see it and nobody answers.
        adapter.do_keep_silent(db, msg)
        return []
    result = service.receive(db, msg, in_band=True)
    texts = [adapter.render(r.text, r.quick_replies) for r in result.replies]
    if word in adapter.HELP_WORDS and texts:
        with db.session() as session:
            conv = conversations.get_by_identity(session, channel=adapter.CHANNEL, external_id=msg.sender)
            texts.append(adapter.say("help_note", conv.locale if conv else "zh"))
    return texts


def twiml_messages(texts: list[str]) -> str:
    """Return a TwiML answer with one <Message> per part of at most 1 600 characters."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    for text in texts:
        for part in adapter.split_message(text):
            response.message(part)
    return str(response)


@router.post("", include_in_schema=True)
async def inbound(request: Request) -> Response:
    """Receive an SMS from Twilio and answer it in TwiML (STOP unsubscribes, START subscribes again, HELP helps)."""
    settings = request.app.state.settings
    params = await adapter.twilio_form(request, settings)
    texts = await to_thread.run_sync(handle_inbound, request.app.state.db, params)
    return Response(twiml_messages(texts), media_type=TWIML)


@router.post("/status", status_code=204)
async def status(request: Request) -> Response:
    """Record a delivery report (delivered, undelivered, failed) on the outbox message it is about."""
    settings = request.app.state.settings
    params = await adapter.twilio_form(request, settings)
    sid = adapter.require(params, "MessageSid", "message")
    state = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not state:
        raise HTTPException(400, "MessageStatus is missing")
    outcome = await to_thread.run_sync(lambda: adapter.do_delivery_status(
        request.app.state.db, message_sid=sid, status=state, error_code=params.get("ErrorCode") or None))
    if outcome is None:
        log.info("delivery report %s for unknown message %s", state, sid)
    return Response(status_code=204)
