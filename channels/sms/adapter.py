"""Twilio for SMS: the REST client, webhook signature checks, opt-out (STOP / START), segmenting and sending.

Replies to an inbound SMS go back in the webhook's TwiML answer (in band); everything else (agent
messages, notifications, the SMS copy of a phone call's tracking number) leaves through the outbox and
``TwilioSmsAdapter.send``. The phone channel reuses the signature check and sends its follow-ups as SMS
through the same adapter under the name "phone".
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from sqlalchemy import select, update

from bot import service as conversations
from bot.models import Conversation
from channels import registry
from channels.models import InboxMessage, OutboxMessage
from channels.service import InboundMessage, OutboundMessage, store, stored_replies
from core.db import Database, utcnow
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

CHANNEL = "sms"
TWILIO_API = "https://api.twilio.com"
# One <Message> (or one REST message) carries at most 1 600 characters; Twilio itself cuts that into
# 70-character UCS-2 segments (67 when concatenated) and the handset joins them again.
MAX_MESSAGE_CHARS = 1600
# Twilio's webhook bodies are a few hundred bytes; anything near this is not Twilio.
MAX_WEBHOOK_BYTES = 64 * 1024
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SID = {"message": re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$"), "call": re.compile(r"^CA[0-9a-fA-F]{32}$"),
       "recording": re.compile(r"^RE[0-9a-fA-F]{32}$"), "account": re.compile(r"^AC[0-9a-fA-F]{32}$")}

# Twilio's standard opt-out, opt-in and help keywords, and the ones Chinese carriers use (TD = 退订).
# CANCEL is Twilio's too: the platform blocks a number that sends it whatever we do, so we honour it.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "TD", "退订", "取消订阅"}
START_WORDS = {"START", "UNSTOP", "订阅", "恢复订阅"}
HELP_WORDS = {"HELP", "INFO", "帮助"}
OPT_OUT_KEY = "sms_opt_out"

TEXTS = {
    "stopped": ("您已退订本服务的短信，我们不会再向您发送消息。如需恢复，请回复START。",
                "You have unsubscribed and will get no more messages from us. Reply START to subscribe again."),
    "started": ("您已恢复接收本服务的短信。请直接发送您要反映的问题。",
                "You are subscribed again. Send us your message any time."),
    "help_note": ("短信回复STOP或TD可退订。", "Reply STOP to unsubscribe."),
    "reply_with": ("回复：", "Reply: "),
}


def say(key: str, locale: str) -> str:
    """Return one of the SMS channel's own texts in the conversation's language."""
    return TEXTS[key][1 if locale == "en" else 0]


def keyword(text: str) -> str:
    """Return the message as a keyword candidate: trimmed, upper case, without trailing punctuation."""
    return re.sub(r"[\s。.!！?？]+$", "", (text or "").strip()).upper()


# ---- Twilio plumbing -------------------------------------------------------------------------------

def public_url(request: Request, settings: Settings) -> str:
    """Return the URL Twilio requested (and signed): the public base URL, the path and the query."""
    url = settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


def absolute(settings: Settings, path: str) -> str:
    """Return the public URL of one of our paths, for TwiML actions and status callbacks."""
    return settings.public_base_url.rstrip("/") + path


async def twilio_form(request: Request, settings: Settings) -> dict[str, str]:
    """Read a Twilio webhook's form and check its X-Twilio-Signature; raise 4xx with a reason otherwise."""
    from twilio.request_validator import RequestValidator

    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise HTTPException(413, f"webhook body over {MAX_WEBHOOK_BYTES} bytes")
    if settings.twilio_auth_token is None:
        raise HTTPException(503, "Twilio is not configured (PETITION_TWILIO_AUTH_TOKEN)")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise HTTPException(403, "missing X-Twilio-Signature")
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise HTTPException(400, "webhook body is not UTF-8 form data") from None
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not validator.validate(public_url(request, settings), params, signature):
        raise HTTPException(403, "X-Twilio-Signature does not match this request")
    if settings.twilio_account_sid and params.get("AccountSid") != settings.twilio_account_sid:
        raise HTTPException(403, "the request is for another Twilio account")
    return params


def require(params: dict[str, str], name: str, kind: str | None = None) -> str:
    """Return a required webhook parameter, checked against its SID pattern; raise 400 when missing or malformed."""
    value = (params.get(name) or "").strip()
    if not value:
        raise HTTPException(400, f"{name} is missing")
    if kind and not SID[kind].match(value):
        raise HTTPException(400, f"{name} is not a Twilio {kind} SID")
    return value


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def twilio_client(settings: Settings | None = None):
    """Return a Twilio REST client for the settings' account, pointed at ``twilio_api_base`` when set."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    settings = settings or get_settings()
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        raise registry.DeliveryError("Twilio is not configured (PETITION_TWILIO_ACCOUNT_SID / _AUTH_TOKEN)")
    key = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), settings.twilio_api_base)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = Client(key[0], key[1], account_sid=key[0], http_client=TwilioHttpClient(timeout=15))
            # Settings are the only configuration: no TWILIO_EDGE / TWILIO_REGION from the environment, which
            # would also rewrite the stand-in's host name.
            client.edge = client.region = None
            # The SDK logs every request's headers at INFO; our own log says what matters.
            logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
            if settings.twilio_api_base:
                client.api.base_url = settings.twilio_api_base.rstrip("/")
            _clients[key] = client
    return client


def api_base(settings: Settings) -> str:
    """Return the base URL of Twilio's REST API (a local stand-in in tests)."""
    return (settings.twilio_api_base or TWILIO_API).rstrip("/")


# ---- texts ---------------------------------------------------------------------------------------------

def render(text: str, quick_replies: list[str] | None = None) -> str:
    """Return a bot reply as an SMS: the text, then its quick replies as words to send back."""
    text = (text or "").strip()
    if not quick_replies:
        return text
    chinese = bool(re.search(r"[\u4e00-\u9fff]", text + "".join(quick_replies)))
    return f"{text}\n{TEXTS['reply_with'][0 if chinese else 1]}{' / '.join(quick_replies)}"


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cut text into parts of at most limit characters, at line, then sentence, then any boundary."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in re.split(r"(?<=\n)|(?<=[。！？!?；;])|(?<=\. )", text):
        while len(piece) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(piece[:limit])
            piece = piece[limit:]
        if len(current) + len(piece) > limit:
            parts.append(current)
            current = ""
        current += piece
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


# ---- opt-out ------------------------------------------------------------------------------------------

def is_opted_out(conv: Conversation | None) -> bool:
    """Tell whether the citizen behind this conversation has sent STOP (and not START since)."""
    return conv is not None and conv.mode == "closed" and bool((conv.state or {}).get(OPT_OUT_KEY))


def opted_out(session, number: str) -> bool:
    """Tell whether a phone number has opted out of SMS (for notifiers deciding whether to write at all)."""
    return is_opted_out(conversations.get_by_identity(session, channel=CHANNEL, external_id=number))


def record_outside_bot(db: Database, msg: InboundMessage, *, answer: Callable[[Conversation], list[str]]
                       ) -> tuple[list[OutboundMessage], bool]:
    """Store a message the bot must not see (STOP, START, anything while opted out) with our answer, once.

    Like ``channels.service.receive`` it keeps the message in the inbox and the transcript and returns the
    stored answer on a repeated delivery; ``answer`` changes the conversation and returns the replies.
    """
    store(db, msg)
    with db.transaction() as session:
        conv = conversations.get_by_identity(session, channel=msg.channel, external_id=msg.sender, for_update=True)
        inbox = session.scalar(select(InboxMessage).where(InboxMessage.channel == msg.channel,
                                                          InboxMessage.platform_msg_id == msg.message_id))
        if inbox.status == "processed":
            return stored_replies(session, inbox), True
        now = utcnow()
        inbox.conversation_id, inbox.attempts = conv.id, inbox.attempts + 1
        conversations.record(session, conv, direction="in", author="citizen", text=inbox.text or "", at=now)
        out = []
        for text in answer(conv):
            line = conversations.record(session, conv, direction="out", author="bot", text=text, at=now)
            row = OutboxMessage(channel=msg.channel, recipient=msg.sender, conversation_id=conv.id, inbox_id=inbox.id,
                                seq=line.seq, text=text, quick_replies=[], status="delivered", attempts=1, sent_at=now,
                                created_at=now)
            session.add(row)
            session.flush()
            out.append(OutboundMessage(msg.channel, msg.sender, text, [], line.seq, row.id))
        inbox.status, inbox.processed_at, inbox.error = "processed", now, None
        return out, False


def do_opt_out(db: Database, msg: InboundMessage) -> list[OutboundMessage]:
    """Record a STOP: close the conversation with the opt-out flag and drop what is still waiting to be sent."""

    def answer(conv: Conversation) -> list[str]:
        conv.mode, conv.agent, conv.waiting_since, conv.urgent, conv.misses = "closed", None, None, False, 0
        conv.state = {OPT_OUT_KEY: True, "opted_out_at": utcnow().isoformat()}
        return [say("stopped", conv.locale)]

    replies, duplicate = record_outside_bot(db, msg, answer=answer)
    if not duplicate:
        with db.transaction() as session:
            session.execute(update(OutboxMessage).where(
                OutboxMessage.recipient == msg.sender, OutboxMessage.channel.in_((CHANNEL, "phone")),
                OutboxMessage.status == "pending").values(status="failed", last_error="recipient opted out (STOP)"))
    return replies


def do_opt_in(db: Database, msg: InboundMessage) -> list[OutboundMessage]:
    """Record a START: the conversation is the bot's again."""

    def answer(conv: Conversation) -> list[str]:
        conv.mode, conv.state, conv.misses = "bot", {}, 0
        return [say("started", conv.locale)]

    return record_outside_bot(db, msg, answer=answer)[0]


def do_keep_silent(db: Database, msg: InboundMessage) -> list[OutboundMessage]:
    """Keep a message from an opted-out citizen without answering it."""
    return record_outside_bot(db, msg, answer=lambda conv: [])[0]


# ---- sending ------------------------------------------------------------------------------------------

# Twilio error codes that no retry can fix: invalid or unreachable number, opted-out recipient, not SMS capable.
PERMANENT_CODES = {21211, 21408, 21610, 21612, 21614, 21617, 21635, 30003, 30004, 30005, 30006, 30007}


class TwilioSmsAdapter:
    """Send outbox messages as SMS through Twilio's REST API; the delivery status arrives by callback."""

    in_band = False
    # Twilio lists the messages sent to a number, so a retry after a crash resumes instead of repeating.
    reconciles = True

    def __init__(self, name: str = CHANNEL):
        self.name = name

    def send(self, message: OutboundMessage, *, resume_since: datetime | None = None) -> str | None:
        """Send one message (in parts of at most 1 600 characters) and return the last part's Message SID.

        With ``resume_since`` (an earlier attempt may have reached Twilio), parts Twilio already has for
        this recipient since then are not sent again.
        """
        from twilio.base.exceptions import TwilioRestException

        settings = get_settings()
        if not E164.match(message.recipient or ""):
            raise registry.DeliveryError(f"{message.recipient!r} is not a phone number that can receive SMS")
        if not settings.twilio_from:
            raise registry.DeliveryError("PETITION_TWILIO_FROM is not set")
        client = twilio_client(settings)
        sid = None
        already: dict[str, list[str]] = {}
        if resume_since is not None:
            for sent in client.messages.list(to=message.recipient, date_sent_after=resume_since, limit=200):
                if sent.from_ == settings.twilio_from:
                    already.setdefault(sent.body, []).append(sent.sid)
        # A long agent message goes out in several parts; the outbox keeps the last part's SID, whose
        # delivery report arrives last.
        for part in split_message(render(message.text, message.quick_replies)):
            if already.get(part):
                sid = already[part].pop(0)
                log.warning("SMS part to %s already at Twilio (%s): not sent again", message.outbox_id, sid)
                continue
            try:
                created = client.messages.create(to=message.recipient, from_=settings.twilio_from, body=part,
                                                 status_callback=absolute(settings, "/channels/sms/twilio/status"))
            except TwilioRestException as exc:
                permanent = exc.code in PERMANENT_CODES or (400 <= (exc.status or 0) < 500 and exc.status != 429)
                if permanent:
                    raise registry.DeliveryError(f"Twilio refused the message: {exc.code} {exc.msg}") from None
                raise
            sid = created.sid
        return sid


DELIVERED = {"delivered", "read"}
FAILED = {"failed", "undelivered", "canceled"}


def do_delivery_status(db: Database, *, message_sid: str, status: str, error_code: str | None = None) -> str | None:
    """Apply a Twilio delivery report to the outbox row with that SID; return its new status (None: not ours)."""
    with db.transaction() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.platform_msg_id == message_sid).with_for_update())
        if row is None:
            return None
        if status in DELIVERED and row.status != "failed":
            row.status, row.last_error = "delivered", None
        elif status in FAILED and row.status != "delivered":
            row.status, row.last_error = "failed", f"Twilio reports {status}" + (f" (error {error_code})" if error_code else "")
        return row.status


registry.register(TwilioSmsAdapter(CHANNEL))
# A phone conversation's later messages (an agent's note, a notification) reach the caller as SMS.
registry.register(TwilioSmsAdapter("phone"))
