"""The TwiML a call hears: the phone channel's own texts, chat replies rewritten for speech, and the verbs that
take the next answer (``<Record>`` for voice, ``<Gather>`` for the keypad, ``<Dial>`` or ``<Enqueue>`` for an agent).

Everything here builds documents from what it is given; it reads no database and calls nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot import messages
from channels.sms import adapter as twilio
from core.settings import Settings

TRACKING = re.compile(r"XF-\d{8}-\d{6}")
# The answer to a webhook after the caller hung up: nobody is left to hear anything.
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'

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


def t(key: str, locale: str, **values) -> str:
    """Return one of the phone channel's own texts in the call's language, with values filled in."""
    text = TEXTS[key][1 if locale == "en" else 0]
    return text.format(**values) if values else text


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


def skip_label(locale: str) -> str:
    """Return the quick reply that skips an optional question, as the bot offers it."""
    return messages.quick("skip", locale)[0]


def _lang(locale: str) -> str:
    return "en-US" if locale == "en" else "zh-CN"


def _url(settings: Settings, path: str) -> str:
    return twilio.absolute(settings, f"/channels/phone/twilio{path}")


def _record(response, settings: Settings, seq: int, *, skip: bool = False) -> None:
    response.record(action=_url(settings, f"/recording?seq={seq}"), method="POST",
                    max_length=settings.max_recording_seconds, play_beep=True, timeout=3,
                    finish_on_key="#*" if skip else "#", trim="trim-silence")


def _connect(response, settings: Settings, locale: str) -> None:
    target = (settings.twilio_agent_number or "").strip()
    lang = _lang(locale)
    if not target:
        response.say(t("no_agent", locale), language=lang)
        response.hangup()
        return
    response.say(t("connecting", locale), language=lang)
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
    response.say(t("goodbye", locale), language=lang)
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
    texts = [speakable(text, locale) for text in current.texts if text.strip()]
    goodbye = messages.t("goodbye", locale)
    if current.texts and current.texts[-1].strip() == goodbye:
        for text in texts:
            response.say(text, language=lang)
        response.hangup()
        return str(response)
    if any(TRACKING.search(text) for text in current.texts) and current.flow is None:
        texts.append(t("anything_else", locale))
    if not texts:
        texts = [t("start", locale)]
    for text in texts[:-1]:
        response.say(text, language=lang)
    question, quick, seq = texts[-1], current.quick, current.seq
    gather_kind = None
    if current.flow == "intake" and current.asking == "phone":
        gather_kind, hint = "phone", t("enter_phone", locale)
    elif current.flow == "intake" and current.asking == "head_count":
        gather_kind, hint = "number", t("enter_number", locale)
    elif quick and quick != [skip_label(locale)] and len(quick) <= 9:
        sep = ", " if locale == "en" else "，"
        gather_kind = "choice"
        hint = sep.join(t("press", locale, label=label, n=i) for i, label in enumerate(quick, 1)) + ("." if locale == "en"
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
        response.say(t("or_speak", locale), language=lang)
        _record(response, settings, seq)
        return str(response)
    skip = skip_label(locale) in quick
    response.say(question + (" " + t("skip_key", locale) if skip else ""), language=lang)
    _record(response, settings, seq, skip=skip)
    return str(response)


def greeting(settings: Settings) -> str:
    """Return the TwiML that opens a new call: welcome, 9 for English, then the first recording."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=1, action=_url(settings, "/language"), method="POST")
    gather.say(t("welcome", "zh"), language="zh-CN")
    gather.say(ENGLISH_OFFER, language="en-US")
    response.say(t("start", "zh"), language="zh-CN")
    _record(response, settings, 0)
    return str(response)


def hold(settings: Settings, locale: str, *, recording_sid: str, seq: int, polls: int) -> str:
    """Return the TwiML that keeps the caller waiting and asks again for an unfinished turn ("one moment" once)."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    if polls == 0:
        response.say(t("hold", locale), language=_lang(locale))
    response.pause(length=1)
    response.redirect(_url(settings, f"/turn?rec={recording_sid}&seq={seq}&n={polls + 1}"), method="POST")
    return str(response)
