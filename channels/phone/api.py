"""Phone routes (Twilio Voice): each turn is a recording, transcribed here, answered by the bot with <Say>.

A call goes: ``/incoming`` (greeting in Chinese, 9 for English) → ``<Record>`` → ``/recording`` (download
the audio, transcribe it, run the bot, answer with <Say> and the next <Record>) → … Choices, head-counts
and phone numbers are taken on the keypad (``<Gather>`` → ``/gather``) because recognisers mangle digit
strings; a handoff dials the configured agent number or queue. Twilio gives up on a webhook after 15 s,
so a turn that takes longer than ``SYNC_BUDGET_S`` to transcribe answers "one moment" and redirects to
``/turn``, which picks up the finished work. The audio and transcript of every turn stay in the inbox
(``media``) under the conversation that registered the petition.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select

from bot import messages
from bot import service as conversations
from bot.models import ConversationMessage
from channels import service
from channels.models import InboxMessage
from channels.phone import transcriber as speech
from channels.sms import adapter as twilio
from core.db import Database
from core.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/channels/phone/twilio", tags=["phone"])
CHANNEL = "phone"
TWIML = "application/xml"
# Twilio waits 15 s for a webhook answer; past this a turn answers "one moment" and carries on in the background.
SYNC_BUDGET_S = 10.0
POLL_BUDGET_S = 10.0
MAX_POLLS = 12
DOWNLOAD_RETRIES = 3
TRACKING = re.compile(r"XF-\d{8}-\d{6}")

TEXTS = {
    "welcome": ("您好，这里是信访和12345热线智能受理。", "Hello, this is the petition and 12345 hotline."),
    "start": ("请在提示音后说出您要反映的问题，说完请按井号键。",
              "Please describe your problem after the beep, then press the pound key."),
    "resume": ("欢迎再次来电，您上次的登记还没有完成，我们接着来。",
               "Welcome back. Your last petition is not finished yet, so let's continue."),
    "not_heard": ("没有听清，请再说一遍。", "Sorry, I did not catch that. Please say it again."),
    "too_long": ("您的录音超过{limit}秒，没有处理。请分几次说，每次不超过{limit}秒。",
                 "That recording is longer than {limit} seconds and was not processed. Please say it in shorter parts."),
    "unreadable": ("抱歉，这段录音无法处理，请再说一遍。", "Sorry, that recording could not be processed. Please say it again."),
    "hold": ("好的，请稍候。", "One moment, please."),
    "lost": ("抱歉，刚才的内容没有处理完成，请再说一遍。", "Sorry, I could not finish processing that. Please say it again."),
    "press": ("{label}请按{n}", "For {label}, press {n}"),
    "or_speak": ("也可以在提示音后直接说。", "Or speak after the beep."),
    "skip_key": ("不清楚可以按星号键跳过。", "Press the star key to skip."),
    "enter_number": ("请用电话按键输入人数，以井号键结束。", "Please key in the number of people, then press the pound key."),
    "enter_phone": ("请用电话按键输入联系电话，以井号键结束；不留电话请直接按井号键。",
                    "Please key in your phone number, then press the pound key; press pound alone to skip."),
    "invalid_key": ("按键无效。", "That key is not valid."),
    "connecting": ("正在为您转接人工服务，请稍候。", "Connecting you to a staff member, please hold."),
    "no_agent": ("人工服务暂时无法接通，工作人员会尽快与您联系。感谢来电，再见。",
                 "No staff member can take the call now; we will contact you soon. Thank you for calling. Goodbye."),
    "goodbye": ("感谢来电，再见。", "Thank you for calling. Goodbye."),
    "anything_else": ("我们也会把受理编号用短信发给您。如果还有其他问题，请在提示音后继续说；没有请直接挂机。",
                      "We will also text you the tracking number. If there is anything else, speak after the beep; "
                      "otherwise you may hang up."),
}
ENGLISH_OFFER = "For English, press 9."


def _t(key: str, locale: str, **values) -> str:
    text = TEXTS[key][1 if locale == "en" else 0]
    return text.format(**values) if values else text


# ---- speech shaping ----------------------------------------------------------------------------------

def speakable(text: str, locale: str = "zh") -> str:
    """Rewrite a chat reply for text-to-speech: no bullets or quotes, "say" for "reply", codes read one character at a time."""
    text = text or ""
    if locale == "en":
        text = re.sub(r"\b(reply|send)\b", "say", text, flags=re.I)
    else:
        text = text.replace("回复", "说").replace("发送", "说")
    text = re.sub(r"[·•“”\"「」『』]", "", text)
    # Tracking numbers, query codes and phone numbers are read digit by digit, not as one big number.
    text = re.sub(r"[A-Za-z0-9][A-Za-z0-9-]{4,}", lambda m: _spell(m.group(0)) if re.search(r"\d", m.group(0))
                  else m.group(0), text)
    stop = ". " if locale == "en" else "。"
    lines = [line.strip(" ：:，,") for line in text.splitlines()]
    text = stop.join(line for line in lines if line)
    text = re.sub(r"([。！？.!?])\s*[。.]", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _spell(token: str) -> str:
    return ", ".join(" ".join(part) for part in token.split("-") if part)


# ---- conversation view ----------------------------------------------------------------------------------

@dataclass
class View:
    """What the answer to a turn depends on: the conversation's mode, open question and language."""

    mode: str = "bot"
    flow: str | None = None
    asking: str | None = None
    locale: str = "zh"
    last_seq: int = 0
    texts: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    seq: int = 0


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


def _after(db: Database, caller: str, replies: list[service.OutboundMessage]) -> View:
    current = view(db, caller) or View()
    current.texts = [r.text for r in replies]
    current.quick = list(replies[-1].quick_replies) if replies else []
    current.seq = replies[-1].seq if replies and replies[-1].seq else current.last_seq
    return current


# ---- TwiML ---------------------------------------------------------------------------------------------

def _lang(locale: str) -> str:
    return "en-US" if locale == "en" else "zh-CN"


def _url(settings: Settings, path: str) -> str:
    return twilio.absolute(settings, f"/channels/phone/twilio{path}")


def _record(response, settings: Settings, seq: int, *, skip: bool = False) -> None:
    response.record(action=_url(settings, f"/recording?seq={seq}"), method="POST",
                    max_length=settings.max_recording_seconds, play_beep=True, timeout=3,
                    finish_on_key="#*" if skip else "#", trim="trim-silence")


def _skip_label(locale: str) -> str:
    return messages.quick("skip", locale)[0]


def _connect(response, settings: Settings, locale: str) -> None:
    target = (settings.twilio_agent_number or "").strip()
    lang = _lang(locale)
    if not target:
        response.say(_t("no_agent", locale), language=lang)
        response.hangup()
        return
    response.say(_t("connecting", locale), language=lang)
    if target.startswith("queue:"):
        response.enqueue(target.removeprefix("queue:"))
        return
    from twilio.twiml.voice_response import Dial

    dial = Dial(timeout=30)
    if target.startswith("sip:"):
        dial.sip(target)
    elif target.startswith("client:"):
        dial.client(target.removeprefix("client:"))
    else:
        dial.number(target)
    response.append(dial)
    response.say(_t("goodbye", locale), language=lang)
    response.hangup()


def prompt(settings: Settings, current: View, *, before: list[str] | None = None) -> str:
    """Return the TwiML that speaks the bot's replies and takes the next answer (voice, keypad or an agent)."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    locale, lang = current.locale, _lang(current.locale)
    for text in before or []:
        response.say(speakable(text, locale), language=lang)
    if current.mode in ("waiting", "agent"):
        # The chat's "a person will reply here" makes no sense on a call: the call itself goes to a person.
        chat_only = {messages.t("handoff", locale), messages.t("waiting", locale)}
        for text in current.texts:
            if text.strip() and text not in chat_only:  # the safety advice (110 / 120) is still read out
                response.say(speakable(text, locale), language=lang)
        _connect(response, settings, locale)
        return str(response)
    texts = [speakable(t, locale) for t in current.texts if t.strip()]
    goodbye = messages.t("goodbye", locale)
    if current.texts and current.texts[-1].strip() == goodbye:
        for text in texts:
            response.say(text, language=lang)
        response.hangup()
        return str(response)
    if any(TRACKING.search(t) for t in current.texts) and current.flow is None:
        texts.append(_t("anything_else", locale))
    if not texts:
        texts = [_t("start", locale)]
    for text in texts[:-1]:
        response.say(text, language=lang)
    question, quick, seq = texts[-1], current.quick, current.seq
    gather_kind = None
    if current.flow == "intake" and current.asking == "phone":
        gather_kind, hint = "phone", _t("enter_phone", locale)
    elif current.flow == "intake" and current.asking == "head_count":
        gather_kind, hint = "number", _t("enter_number", locale)
    elif quick and quick != [_skip_label(locale)] and len(quick) <= 9:
        sep = ", " if locale == "en" else "，"
        gather_kind = "choice"
        hint = sep.join(_t("press", locale, label=label, n=i) for i, label in enumerate(quick, 1)) + ("." if locale == "en"
                                                                                                     else "。")
    if gather_kind:
        options = {"input": "dtmf", "action": _url(settings, f"/gather?kind={gather_kind}&seq={seq}"), "method": "POST"}
        if gather_kind == "choice":
            options.update(num_digits=1, timeout=5)
        else:
            options.update(finish_on_key="#", timeout=10)
        gather = response.gather(**options)
        gather.say(question, language=lang)
        gather.say(hint, language=lang)
        # No key pressed: the caller may answer by voice instead.
        response.say(_t("or_speak", locale), language=lang)
        _record(response, settings, seq)
        return str(response)
    skip = _skip_label(locale) in quick
    response.say(question + (" " + _t("skip_key", locale) if skip else ""), language=lang)
    _record(response, settings, seq, skip=skip)
    return str(response)


def greeting(settings: Settings) -> str:
    """Return the TwiML that opens a new call: welcome, 9 for English, then the first recording."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=1, action=_url(settings, "/language"), method="POST")
    gather.say(_t("welcome", "zh"), language="zh-CN")
    gather.say(ENGLISH_OFFER, language="en-US")
    response.say(_t("start", "zh"), language="zh-CN")
    _record(response, settings, 0)
    return str(response)


def _xml(text: str) -> Response:
    return Response(text, media_type=TWIML)


# ---- turns -------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """How one recording turn ended: the bot's replies, or why nothing was processed."""

    kind: str  # replies | silent | too_long | unreadable | error
    replies: list[service.OutboundMessage] = field(default_factory=list)
    detail: str = ""


# Transcriptions queue on the one model anyway; the other threads download and talk to the database meanwhile.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="phone-turn")
_work: dict[str, tuple[float, Future]] = {}
_work_lock = threading.Lock()
WORK_TTL_S = 900.0


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


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One pooled client: making one per download costs more than the download itself.
    global _client
    if _client is None:
        _client = httpx.Client(timeout=30, follow_redirects=True)
    return _client


def download_recording(settings: Settings, url: str, dest: Path) -> Path:
    """Fetch a recording as WAV from Twilio (only from our account's recordings) with the account credentials."""
    prefix = f"{twilio.api_base(settings)}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/"
    if not settings.twilio_account_sid or not url.startswith(prefix):
        raise speech.TranscriptionError("the recording URL is not one of this Twilio account's recordings")
    # 8 kHz 16-bit WAV, mono or two channels, with room to spare; anything bigger is not a turn.
    limit = (settings.max_recording_seconds + 30) * 8000 * 2 * 2 + 4096
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    for attempt in range(DOWNLOAD_RETRIES):
        with _http().stream("GET", url + ".wav", auth=auth) as reply:
            if reply.status_code == 404 and attempt + 1 < DOWNLOAD_RETRIES:
                time.sleep(0.5 * (attempt + 1))  # Twilio may call back a moment before the file is ready
                continue
            if reply.status_code != 200:
                raise speech.TranscriptionError(f"downloading the recording failed: HTTP {reply.status_code}")
            size = 0
            with tmp.open("wb") as out:
                for chunk in reply.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        out.close()
                        tmp.unlink(missing_ok=True)
                        raise speech.RecordingTooLong(size / 16000, settings.max_recording_seconds)
                    out.write(chunk)
        os.replace(tmp, dest)
        return dest
    raise speech.TranscriptionError("the recording was not available")


def transcript_for(settings: Settings, path: Path, language: str | None) -> speech.TranscriptResult:
    """Transcribe a kept recording once: the result is kept beside it and reused on a repeated callback."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            return speech.TranscriptResult(data["text"], data["language"], data["duration_s"], data.get("segments", []))
        except (ValueError, KeyError):
            pass
    result = speech.get_transcriber().transcribe(path, language=language)
    tmp = sidecar.with_suffix(".json.part")
    tmp.write_text(json.dumps(result.__dict__, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, sidecar)
    return result


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
        outcome = service.receive(db, service.InboundMessage(channel=CHANNEL, sender=caller, message_id=recording_sid,
                                                             text=result.text, media=media), in_band=True)
    except Exception as exc:  # kept in the inbox as failed, with its error, by receive()
        return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    if not outcome.duplicate:
        _text_tracking_number(db, caller, outcome.replies)
    return Outcome("replies", outcome.replies)


def _text_tracking_number(db: Database, caller: str, replies: list[service.OutboundMessage]) -> None:
    """Send the registration message by SMS too: a tracking number heard once on a call is easily lost."""
    registered = [r for r in replies if TRACKING.search(r.text) and r.seq]
    if not registered or not twilio.E164.match(caller):
        return
    with db.transaction() as session:
        conv = conversations.get_by_identity(session, channel=CHANNEL, external_id=caller, for_update=True)
        for reply in registered:
            service.enqueue_agent_message(session, conv=conv, seq=reply.seq, text=reply.text)


def _dtmf_turn(db: Database, params: dict[str, str], message_id: str, text: str) -> list[service.OutboundMessage]:
    result = service.receive(db, service.InboundMessage(channel=CHANNEL, sender=caller_id(params), message_id=message_id,
                                                        text=text), in_band=True)
    if not result.duplicate:
        _text_tracking_number(db, caller_id(params), result.replies)
    return result.replies


def answer(db: Database, settings: Settings, params: dict[str, str], outcome: Outcome, seq: int) -> str:
    """Return the TwiML for a finished turn: the bot's answer, or a clear "say it again" and the same question."""
    caller = caller_id(params)
    if outcome.kind == "replies":
        return prompt(settings, _after(db, caller, outcome.replies))
    current = view(db, caller, seq=seq) or View()
    locale = current.locale
    reason = {"silent": _t("not_heard", locale), "too_long": _t("too_long", locale, limit=settings.max_recording_seconds),
              "unreadable": _t("unreadable", locale), "error": _t("lost", locale)}[outcome.kind]
    return prompt(settings, current, before=[reason])


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


# ---- routes --------------------------------------------------------------------------------------------

@router.post("/incoming")
async def incoming(request: Request) -> Response:
    """Answer a new call: a greeting (or the unfinished form where the caller left it, or the agent queue)."""
    settings, db = request.app.state.settings, request.app.state.db
    params = await twilio.twilio_form(request, settings)
    twilio.require(params, "CallSid", "call")
    current = await to_thread.run_sync(view, db, caller_id(params))
    if current is not None and current.mode in ("waiting", "agent"):
        return _xml(prompt(settings, current))
    if current is not None and current.mode == "bot" and current.flow in ("intake", "confirm") and current.texts:
        return _xml(prompt(settings, current, before=[_t("resume", current.locale)]))
    return _xml(greeting(settings))


@router.post("/language")
async def language(request: Request) -> Response:
    """Switch the call to English when the caller pressed 9 during the greeting."""
    settings, db = request.app.state.settings, request.app.state.db
    params = await twilio.twilio_form(request, settings)
    call_sid = twilio.require(params, "CallSid", "call")
    if (params.get("Digits") or "").strip() != "9":
        return _xml(prompt(settings, View(texts=[_t("start", "zh")])))

    def switch() -> str:
        result = service.receive(db, service.InboundMessage(channel=CHANNEL, sender=caller_id(params),
                                                            message_id=f"{call_sid}-lang", text="English", locale="en-US"),
                                 in_band=True)
        current = _after(db, caller_id(params), result.replies)
        if current.flow is None:
            current.texts.append(_t("start", "en"))
        return prompt(settings, current)

    return _xml(await to_thread.run_sync(switch))


@router.post("/recording")
async def recording(request: Request) -> Response:
    """Take one recorded turn: refuse a silent or over-long one clearly, otherwise transcribe it and answer."""
    settings, db = request.app.state.settings, request.app.state.db
    params = await twilio.twilio_form(request, settings)
    call_sid = twilio.require(params, "CallSid", "call")
    seq = _seq(request)
    caller = caller_id(params)
    digits = (params.get("Digits") or "").strip()
    duration = _duration(params)
    recording_sid = params.get("RecordingSid") or ""
    if recording_sid and not twilio.SID["recording"].match(recording_sid):
        raise HTTPException(400, "RecordingSid is not a Twilio recording SID")

    if digits == "*":
        def skip() -> str:
            current = view(db, caller, seq=seq) or View()
            if _skip_label(current.locale) not in current.quick:
                return answer(db, settings, params, Outcome("silent"), seq)
            replies = _dtmf_turn(db, params, recording_sid or f"{call_sid}-skip-{seq}", _skip_label(current.locale))
            return prompt(settings, _after(db, caller, replies))
        return _xml(await to_thread.run_sync(skip))
    if duration > settings.max_recording_seconds:
        log.warning("call %s: recording %s of %s s refused (limit %s s)", call_sid, recording_sid, duration,
                    settings.max_recording_seconds)
        return _xml(await to_thread.run_sync(answer, db, settings, params, Outcome("too_long"), seq))
    if not recording_sid or not params.get("RecordingUrl") or duration <= 0:
        if digits == "hangup":
            return _xml('<?xml version="1.0" encoding="UTF-8"?><Response />')
        return _xml(await to_thread.run_sync(answer, db, settings, params, Outcome("silent"), seq))

    future = _submit(recording_sid, run_turn, db, settings, dict(params))
    if digits == "hangup":
        # The caller hung up while speaking: the last words are still transcribed and kept, nobody hears an answer.
        return _xml('<?xml version="1.0" encoding="UTF-8"?><Response />')
    return _xml(await to_thread.run_sync(_wait, db, settings, params, future, seq, recording_sid, 0, SYNC_BUDGET_S))


def _wait(db: Database, settings: Settings, params: dict[str, str], future: Future, seq: int, recording_sid: str,
          polls: int, budget: float) -> str:
    try:
        outcome = future.result(timeout=budget)
    except FutureTimeout:
        if polls >= MAX_POLLS:
            return answer(db, settings, params, Outcome("error", detail="timed out"), seq)
        from twilio.twiml.voice_response import VoiceResponse

        current = view(db, caller_id(params)) or View()
        response = VoiceResponse()
        if polls == 0:
            response.say(_t("hold", current.locale), language=_lang(current.locale))
        response.pause(length=1)
        response.redirect(_url(settings, f"/turn?rec={recording_sid}&seq={seq}&n={polls + 1}"), method="POST")
        return str(response)
    except Exception as exc:
        log.exception("call turn %s failed", recording_sid)
        outcome = Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    return answer(db, settings, params, outcome, seq)


@router.post("/turn")
async def turn(request: Request) -> Response:
    """Pick up a turn that was still being transcribed when Twilio's time ran out."""
    settings, db = request.app.state.settings, request.app.state.db
    params = await twilio.twilio_form(request, settings)
    twilio.require(params, "CallSid", "call")
    recording_sid = request.query_params.get("rec", "")
    if not twilio.SID["recording"].match(recording_sid):
        raise HTTPException(400, "rec is not a Twilio recording SID")
    seq = _seq(request)
    polls = int(request.query_params.get("n", "1")) if request.query_params.get("n", "1").isdigit() else 1
    with _work_lock:
        entry = _work.get(recording_sid)
    if entry is not None:
        return _xml(await to_thread.run_sync(_wait, db, settings, params, entry[1], seq, recording_sid, polls,
                                             POLL_BUDGET_S))

    def stored() -> str:
        # This process did not do the work (a restart, another worker): answer from the inbox if it was done.
        with db.session() as session:
            inbox = session.scalar(select(InboxMessage).where(InboxMessage.channel == CHANNEL,
                                                              InboxMessage.platform_msg_id == recording_sid))
            replies = service.stored_replies(session, inbox) if inbox is not None and inbox.status == "processed" else None
        if replies is None:
            return answer(db, settings, params, Outcome("error", detail="turn lost"), seq)
        return answer(db, settings, params, Outcome("replies", replies), seq)

    return _xml(await to_thread.run_sync(stored))


@router.post("/gather")
async def gather(request: Request) -> Response:
    """Take a keypad answer: a numbered choice, a head-count or a phone number, as the text the bot expects."""
    settings, db = request.app.state.settings, request.app.state.db
    params = await twilio.twilio_form(request, settings)
    call_sid = twilio.require(params, "CallSid", "call")
    seq = _seq(request)
    kind = request.query_params.get("kind", "")
    if kind not in ("choice", "number", "phone"):
        raise HTTPException(400, "kind must be choice, number or phone")
    digits = (params.get("Digits") or "").strip()
    caller = caller_id(params)

    def run() -> str:
        current = view(db, caller, seq=seq) or View()
        locale = current.locale
        text = None
        if kind == "choice" and len(digits) == 1 and digits.isdigit() and 1 <= int(digits) <= len(current.quick):
            text = current.quick[int(digits) - 1]
        elif kind == "number" and digits.rstrip("#").isdigit() and int(digits.rstrip("#")) > 0:
            text = str(int(digits.rstrip("#")))
        elif kind == "phone":
            keyed = digits.rstrip("#")
            if keyed == "*" and twilio.E164.match(caller):
                keyed = caller[3:] if caller.startswith("+86") else caller
            if keyed == "":
                text = _skip_label(locale)
            elif re.fullmatch(r"\+?\d{5,15}", keyed):
                text = keyed
        if text is None:
            return prompt(settings, current, before=[_t("invalid_key", locale)])
        replies = _dtmf_turn(db, params, f"{call_sid}-key-{seq}", text)
        return prompt(settings, _after(db, caller, replies))

    return _xml(await to_thread.run_sync(run))
