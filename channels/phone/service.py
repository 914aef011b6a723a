"""A call, turn by turn: who is calling, what the conversation asks next, and the TwiML that answers each turn.

A recorded turn is downloaded, transcribed and run through the inbox and the bot on a small pool of
threads. Twilio gives up on a webhook after 15 s, so a turn that takes longer than ``SYNC_BUDGET_S``
answers "one moment" and redirects to ``/turn``, which picks up the finished work (or its stored replies
when another process did it). Keypad answers reach the bot as the text it would have been typed as.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bot import service as conversations
from bot.models import ConversationMessage
from channels import service as inbox
from channels.models import InboxMessage
from channels.phone import transcriber as speech
from channels.phone import twiml
from channels.phone.recordings import download_recording, transcript_for
from channels.phone.twiml import View
from channels.sms import adapter as twilio
from core.db import Database
from core.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "phone"
# Twilio waits 15 s for a webhook answer; past this a turn answers "one moment" and carries on in the background.
SYNC_BUDGET_S = 10.0
POLL_BUDGET_S = 10.0
MAX_POLLS = 12
WORK_TTL_S = 900.0


def caller_id(params: dict[str, str]) -> str:
    """Return the conversation key of a call: the caller's E.164 number, or the call itself when it is withheld."""
    number = (params.get("From") or params.get("Caller") or "").strip()
    if twilio.E164.match(number):
        return number
    return f"call:{twilio.require(params, 'CallSid', 'call')}"


def view(db: Database, caller: str, *, seq: int | None = None) -> View | None:
    """Return the conversation as the next prompt needs it, with the bot message at seq (default: the last one)."""
    with db.session() as session:
        conv = conversations.get_by_identity(session, channel=CHANNEL, external_id=caller)
        if conv is None:
            return None
        state = conv.state or {}
        stmt = select(ConversationMessage).where(ConversationMessage.conversation_id == conv.id,
                                                 ConversationMessage.direction == "out",
                                                 ConversationMessage.author == "bot")
        stmt = stmt.where(ConversationMessage.seq == seq) if seq else stmt.order_by(ConversationMessage.seq.desc()).limit(1)
        last = session.scalar(stmt)
        return View(mode=conv.mode, flow=state.get("flow"), asking=state.get("asking"), locale=conv.locale,
                    last_seq=conv.last_seq, texts=[last.text] if last else [], quick=list(last.quick_replies or []) if last
                    else [], seq=last.seq if last else 0)


def _after(db: Database, caller: str, replies: list[inbox.OutboundMessage]) -> View:
    current = view(db, caller) or View()
    current.texts = [r.text for r in replies]
    current.quick = list(replies[-1].quick_replies) if replies else []
    current.seq = replies[-1].seq if replies and replies[-1].seq else current.last_seq
    return current


@dataclass
class Outcome:
    """How one recording turn ended: the bot's replies, or why nothing was processed."""

    kind: str  # replies | silent | too_long | unreadable | error
    replies: list[inbox.OutboundMessage] = field(default_factory=list)
    detail: str = ""


# Transcriptions queue on the one model anyway; the other threads download and talk to the database meanwhile.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="phone-turn")
_work: dict[str, tuple[float, Future]] = {}
_work_lock = threading.Lock()


def _submit(recording_sid: str, fn, *args) -> Future:
    """Start the work for a recording unless it is already running or done (Twilio may ask twice)."""
    with _work_lock:
        now = time.monotonic()
        for key in [k for k, (at, f) in _work.items() if f.done() and now - at > WORK_TTL_S]:
            _work.pop(key, None)
        if recording_sid in _work:
            return _work[recording_sid][1]
        future = _pool.submit(fn, *args)
        _work[recording_sid] = (now, future)
        return future


def recording_path(settings: Settings, call_sid: str, recording_sid: str) -> Path:
    """Return where a call's recording is kept: <media_dir>/phone/<CallSid>/<RecordingSid>.wav."""
    return speech.resolve_path(settings.media_dir) / CHANNEL / call_sid / f"{recording_sid}.wav"


def run_turn(db: Database, settings: Settings, params: dict[str, str]) -> Outcome:
    """Download, transcribe and answer one recording; nothing reaches the bot unless there is speech."""
    call_sid, recording_sid = params["CallSid"], params["RecordingSid"]
    caller = caller_id(params)
    try:
        path = recording_path(settings, call_sid, recording_sid)
        if not path.is_file():
            download_recording(settings, params["RecordingUrl"], path)
        current = view(db, caller)
        # The first turn of a new caller: let the model choose between Chinese and English.
        language = current.locale if current and current.last_seq > 0 else None
        result = transcript_for(settings, path, language)
    except speech.RecordingTooLong as exc:
        return Outcome("too_long", detail=str(exc))
    except speech.TranscriptionError as exc:
        log.warning("call %s recording %s: %s", call_sid, recording_sid, exc)
        return Outcome("unreadable", detail=str(exc))
    if not result.text.strip():
        return Outcome("silent")
    media = {"type": "audio", "path": str(path.relative_to(speech.resolve_path(settings.media_dir))),
             "transcript": result.text, "duration_s": result.duration_s, "language": result.language,
             "call_sid": call_sid, "recording_sid": recording_sid, "segments": result.segments}
    try:
        outcome = inbox.receive(db, inbox.InboundMessage(channel=CHANNEL, sender=caller, message_id=recording_sid,
                                                         text=result.text, media=media), in_band=True)
    except Exception as exc:  # kept in the inbox as failed, with its error, by receive()
        return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    if not outcome.duplicate:
        _text_tracking_number(db, caller, outcome.replies)
    return Outcome("replies", outcome.replies)


def _text_tracking_number(db: Database, caller: str, replies: list[inbox.OutboundMessage]) -> None:
    """Send the registration message by SMS too: a tracking number heard once on a call is easily lost."""
    registered = [r for r in replies if twiml.TRACKING.search(r.text) and r.seq]
    if not registered or not twilio.E164.match(caller):
        return
    with db.transaction() as session:
        conv = conversations.get_by_identity(session, channel=CHANNEL, external_id=caller, for_update=True)
        for reply in registered:
            inbox.enqueue_agent_message(session, conv=conv, seq=reply.seq, text=reply.text)


def _dtmf_turn(db: Database, params: dict[str, str], message_id: str, text: str) -> list[inbox.OutboundMessage]:
    result = inbox.receive(db, inbox.InboundMessage(channel=CHANNEL, sender=caller_id(params), message_id=message_id,
                                                    text=text), in_band=True)
    if not result.duplicate:
        _text_tracking_number(db, caller_id(params), result.replies)
    return result.replies


def answer(db: Database, settings: Settings, params: dict[str, str], outcome: Outcome, seq: int) -> str:
    """Return the TwiML for a finished turn: the bot's answer, or a clear "say it again" and the same question."""
    caller = caller_id(params)
    if outcome.kind == "replies":
        return twiml.prompt(settings, _after(db, caller, outcome.replies))
    current = view(db, caller, seq=seq) or View()
    locale = current.locale
    reason = {"silent": twiml.t("not_heard", locale),
              "too_long": twiml.t("too_long", locale, limit=settings.max_recording_seconds),
              "unreadable": twiml.t("unreadable", locale), "error": twiml.t("lost", locale)}[outcome.kind]
    return twiml.prompt(settings, current, before=[reason])


def answer_call(db: Database, settings: Settings, params: dict[str, str]) -> str:
    """Answer a new call: a greeting (or the unfinished form where the caller left it, or the agent queue)."""
    current = view(db, caller_id(params))
    if current is not None and current.mode in ("waiting", "agent"):
        return twiml.prompt(settings, current)
    if current is not None and current.mode == "bot" and current.flow in ("intake", "confirm") and current.texts:
        return twiml.prompt(settings, current, before=[twiml.t("resume", current.locale)])
    return twiml.greeting(settings)


def do_language(db: Database, settings: Settings, params: dict[str, str], *, call_sid: str, digits: str) -> str:
    """Switch the call to English when the caller pressed 9 during the greeting, else go on in Chinese."""
    if digits != "9":
        return twiml.prompt(settings, View(texts=[twiml.t("start", "zh")]))
    result = inbox.receive(db, inbox.InboundMessage(channel=CHANNEL, sender=caller_id(params),
                                                    message_id=f"{call_sid}-lang", text="English", locale="en-US"),
                           in_band=True)
    current = _after(db, caller_id(params), result.replies)
    if current.flow is None:
        current.texts.append(twiml.t("start", "en"))
    return twiml.prompt(settings, current)


def do_recording(db: Database, settings: Settings, params: dict[str, str], *, call_sid: str, seq: int, digits: str,
                 duration: int, recording_sid: str) -> str:
    """Take one recorded turn: refuse a silent or over-long one clearly, otherwise transcribe it and answer."""
    if digits == "*":
        return _skip(db, settings, params, seq=seq, message_id=recording_sid or f"{call_sid}-skip-{seq}")
    if duration > settings.max_recording_seconds:
        log.warning("call %s: recording %s of %s s refused (limit %s s)", call_sid, recording_sid, duration,
                    settings.max_recording_seconds)
        return answer(db, settings, params, Outcome("too_long"), seq)
    if not recording_sid or not params.get("RecordingUrl") or duration <= 0:
        if digits == "hangup":
            return twiml.EMPTY
        return answer(db, settings, params, Outcome("silent"), seq)

    future = _submit(recording_sid, run_turn, db, settings, dict(params))
    if digits == "hangup":
        # The caller hung up while speaking: the last words are still transcribed and kept, nobody hears an answer.
        return twiml.EMPTY
    return _wait(db, settings, params, future, seq, recording_sid, 0, SYNC_BUDGET_S)


def _skip(db: Database, settings: Settings, params: dict[str, str], *, seq: int, message_id: str) -> str:
    # The star key skips only a question that offers skipping; anywhere else it is a turn with nothing said.
    caller = caller_id(params)
    current = view(db, caller, seq=seq) or View()
    if twiml.skip_label(current.locale) not in current.quick:
        return answer(db, settings, params, Outcome("silent"), seq)
    replies = _dtmf_turn(db, params, message_id, twiml.skip_label(current.locale))
    return twiml.prompt(settings, _after(db, caller, replies))


def _wait(db: Database, settings: Settings, params: dict[str, str], future: Future, seq: int, recording_sid: str,
          polls: int, budget: float) -> str:
    try:
        outcome = future.result(timeout=budget)
    except FutureTimeout:
        if polls >= MAX_POLLS:
            return answer(db, settings, params, Outcome("error", detail="timed out"), seq)
        current = view(db, caller_id(params)) or View()
        return twiml.hold(settings, current.locale, recording_sid=recording_sid, seq=seq, polls=polls)
    except Exception as exc:
        log.exception("call turn %s failed", recording_sid)
        outcome = Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    return answer(db, settings, params, outcome, seq)


def pick_up_turn(db: Database, settings: Settings, params: dict[str, str], *, recording_sid: str, seq: int,
                 polls: int) -> str:
    """Answer a turn that was still being transcribed when Twilio's time ran out, or hold on a while longer."""
    with _work_lock:
        entry = _work.get(recording_sid)
    if entry is not None:
        return _wait(db, settings, params, entry[1], seq, recording_sid, polls, POLL_BUDGET_S)
    # This process did not do the work (a restart, another worker): answer from the inbox if it was done.
    with db.session() as session:
        stored = session.scalar(select(InboxMessage).where(InboxMessage.channel == CHANNEL,
                                                           InboxMessage.platform_msg_id == recording_sid))
        replies = inbox.stored_replies(session, stored) if stored is not None and stored.status == "processed" else None
    if replies is None:
        return answer(db, settings, params, Outcome("error", detail="turn lost"), seq)
    return answer(db, settings, params, Outcome("replies", replies), seq)


def do_gather(db: Database, settings: Settings, params: dict[str, str], *, call_sid: str, kind: str, digits: str,
              seq: int) -> str:
    """Take a keypad answer: a numbered choice, a head-count or a phone number, as the text the bot expects."""
    caller = caller_id(params)
    current = view(db, caller, seq=seq) or View()
    text = _keyed_text(kind, digits, caller, current)
    if text is None:
        return twiml.prompt(settings, current, before=[twiml.t("invalid_key", current.locale)])
    replies = _dtmf_turn(db, params, f"{call_sid}-key-{seq}", text)
    return twiml.prompt(settings, _after(db, caller, replies))


def _keyed_text(kind: str, digits: str, caller: str, current: View) -> str | None:
    # None when the keys answer nothing the question offers.
    if kind == "choice" and len(digits) == 1 and digits.isdigit() and 1 <= int(digits) <= len(current.quick):
        return current.quick[int(digits) - 1]
    if kind == "number" and digits.rstrip("#").isdigit() and int(digits.rstrip("#")) > 0:
        return str(int(digits.rstrip("#")))
    if kind == "phone":
        keyed = digits.rstrip("#")
        # The star key gives the number the call comes from, in the national form when it is a Chinese one.
        if keyed == "*" and twilio.E164.match(caller):
            keyed = caller[3:] if caller.startswith("+86") else caller
        if keyed == "":
            return twiml.skip_label(current.locale)
        if re.fullmatch(r"\+?\d{5,15}", keyed):
            return keyed
    return None
