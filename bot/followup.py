"""Conversations about a filed petition: status query, supplement and feedback (with a review request)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot import messages
from cases import service as cases
from cases.enums import TERMINAL, Action, Status
from cases.models import Petition
from cases.schemas import TransitionIn

if TYPE_CHECKING:
    from bot.engine import Turn

FLOWS = ("query", "supplement", "feedback")
CODE = re.compile(r"(?<![A-Za-z0-9-])([2-9A-HJ-NP-Za-hj-np-z]{8})(?![A-Za-z0-9-])")
SATISFIED = re.compile(r"不满意|not satisfied|unsatisfied|dissatisfied|unhappy", re.I)


VERIFIED_PHONE_CHANNELS = ("sms", "phone")


def _source(turn: Turn) -> str:
    return cases.source_digest(turn.conv.channel, turn.conv.external_id)


def verified_phone(turn: Turn) -> str | None:
    """Return the phone number the channel itself vouches for (the SMS sender, the caller), if any."""
    if turn.conv.channel not in VERIFIED_PHONE_CHANNELS:
        return None
    digits = re.sub(r"\D", "", turn.conv.external_id)
    # Twilio sends E.164 (+8613812345678); petitioners' phones are stored as dialled (13812345678).
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def code_in(text: str) -> str | None:
    """Return a query code written in the text, if any."""
    for match in CODE.finditer(text):
        token = match.group(1)
        # A query code mixes letters and digits in practice; a plain English word is not one.
        if re.search(r"\d", token) or token.isupper():
            return token.upper()
    return None


def start(turn: Turn, flow: str) -> None:
    """Open a follow-up flow and resolve which petition it is about."""
    intent = turn.parse.intent
    turn.set_state(flow=flow, step="petition", tracking_no=None,
                   verdict={"feedback_satisfied": "satisfied", "feedback_unsatisfied": "unsatisfied",
                            "request_review": "review"}.get(intent))
    _resolve(turn, first=True)


def reask(turn: Turn) -> None:
    """Repeat the open question of a follow-up flow."""
    step = turn.state.get("step")
    if step == "code":
        turn.say("ask_query_code")
    elif step == "petition":
        turn.say("ask_tracking_no")
    elif step == "content":
        turn.say("ask_supplement")
    elif step == "reason":
        turn.say("ask_unsatisfied_reason")
    elif step == "verdict":
        turn.say("ask_feedback", "feedback")
    elif step == "offer_review":
        turn.say("review_declined")


def answer(turn: Turn) -> None:
    """Use the message in the open follow-up flow."""
    step = turn.state.get("step")
    if step in ("petition", "code"):
        _resolve(turn, first=False)
    elif step == "content":
        _supplement(turn)
    elif step == "verdict":
        _verdict(turn)
    elif step == "reason":
        _unsatisfied(turn, turn.text)
    elif step == "offer_review":
        _offer_review(turn)
    else:
        turn.reset()


def _resolve(turn: Turn, *, first: bool) -> None:
    """Find the petition from a tracking number (plus identity or query code), or ask for what is missing."""
    flow, state = turn.state["flow"], turn.state
    mentioned = turn.parse.first("tracking_no")
    tracking_no = str(mentioned.value) if mentioned else state.get("tracking_no")
    code = code_in(turn.text.replace(tracking_no or "", " ")) if state.get("step") == "code" or mentioned else None
    if state.get("step") == "code" and code is None:
        code = code_in(turn.text)
    source = _source(turn)
    if tracking_no is None:
        own = cases.list_by_source(turn.session, source, verified_phone=verified_phone(turn))
        if flow != "query" and own:
            return _found(turn, own[0])
        if flow == "query" and own and first:
            lines = "\n".join(f"{p.tracking_no}  {messages.status_name(p.status, turn.locale)}" for p in own)
            turn.reset()
            turn.say_text(messages.t("your_petitions", turn.locale, lines=lines), [p.tracking_no for p in own[:3]])
            return None
        if not first:
            turn.conv.misses += 1
        turn.set_state(step="petition")
        turn.say("ask_tracking_no")
        return None
    try:
        petition = cases.access_citizen(turn.session, tracking_no, source=source, code=code,
                                        verified_phone=verified_phone(turn))
    except cases.NotFound:
        if code is None:
            turn.set_state(step="code", tracking_no=tracking_no)
            if not first and state.get("step") == "code":
                turn.conv.misses += 1
            turn.say("ask_query_code")
            return None
        turn.conv.misses += 1
        turn.set_state(step="petition", tracking_no=None)
        turn.say("petition_not_found")
        return None
    turn.conv.misses = 0
    return _found(turn, petition)


def _found(turn: Turn, petition: Petition) -> None:
    flow = turn.state["flow"]
    turn.set_state(tracking_no=petition.tracking_no)
    if flow == "query":
        turn.reset()
        turn.say_text(status_text(turn, petition))
        return
    if flow == "supplement":
        if Status(petition.status) in TERMINAL:
            turn.reset()
            turn.say("supplement_closed", tracking_no=petition.tracking_no,
                     status=messages.status_name(petition.status, turn.locale))
            return
        turn.set_state(step="content")
        turn.say("ask_supplement")
        return
    # feedback
    if petition.status not in (Status.REPLIED, Status.REVIEW_REPLIED):
        turn.reset()
        turn.say("feedback_no_reply", tracking_no=petition.tracking_no)
        return
    verdict = turn.state.get("verdict")
    if verdict == "satisfied":
        _satisfied(turn, petition)
    elif verdict in ("unsatisfied", "review"):
        reason = _reason_in(turn.text)
        if reason:
            _unsatisfied(turn, reason)
        else:
            turn.set_state(step="reason")
            turn.say("ask_unsatisfied_reason")
    else:
        turn.set_state(step="verdict")
        turn.say_text(status_text(turn, petition), messages.quick("feedback", turn.locale))


VERDICT_WORDS = re.compile(
    r"(我|本人)?(对|觉得)?(这个|你们的|该)?(答复|处理结果|回复|处理)?(非常|很|不太|并)?(不满意|申请复查|要求复查)[了啊。.!！，,]*|"
    r"(i am|i'm|we are|we're)?\s*(very|really|still)?\s*(not satisfied|unsatisfied|dissatisfied|unhappy)"
    r"(\s+with\s+(the|your|this|that)\s+(reply|answer|response|result))?[.!,]*|"
    r"(i want|i'd like|i would like)\s+(to request\s+)?a review[.!,]*|request a review[.!,]*", re.I)


def _reason_in(text: str) -> str | None:
    """Return what the citizen said besides the verdict itself, if it is a reason."""
    stripped = VERDICT_WORDS.sub(" ", re.sub(r"XF-\d{8}-\d{6}", " ", text, flags=re.I))
    stripped = re.sub(r"\s+", " ", stripped).strip(" ，,。.!！:：")
    return stripped if len(re.sub(r"\W", "", stripped)) >= 4 else None


def status_text(turn: Turn, petition: Petition) -> str:
    """Describe a petition's status, unit, deadline and latest reply for the citizen."""
    locale = turn.locale
    unit = petition.lead_unit
    unit_name = (unit.name_en or unit.name) if unit and locale == "en" else unit.name if unit else \
        messages.t("unit_pending", locale)
    due_line = messages.t("status_due", locale, due=turn.local_date(petition.due_at)) if petition.due_at else ""
    reply_line = ""
    if petition.replies:
        last = petition.replies[-1]
        text = last.text if len(last.text) <= 300 else last.text[:299] + "…"
        reply_line = messages.t("status_reply", locale, date=turn.local_date(last.created_at), text=text)
    return messages.t("status", locale, tracking_no=petition.tracking_no,
                      status=messages.status_name(petition.status, locale), unit=unit_name, due_line=due_line,
                      reply_line=reply_line).strip()


def _petition(turn: Turn) -> Petition:
    return cases.get_by_tracking_no(turn.session, turn.state["tracking_no"])


def _supplement(turn: Turn) -> None:
    from bot.engine import BOT

    attachments = [turn.media] if turn.media else []
    try:
        petition = cases.do_supplement(turn.session, tracking_no=turn.state["tracking_no"], text=turn.text,
                                       channel=turn.conv.channel, actor=BOT, attachments=attachments, now=turn.now)
    except cases.CaseError:
        turn.reset()
        turn.say("petition_not_found")
        return
    turn.reset()
    turn.say("supplement_added", tracking_no=petition.tracking_no)


def _verdict(turn: Turn) -> None:
    petition = _petition(turn)
    if turn.parse.intent == "feedback_unsatisfied" or SATISFIED.search(turn.text) or turn.parse.intent == "deny":
        reason = _reason_in(turn.text)
        if reason:
            _unsatisfied(turn, reason)
        else:
            turn.set_state(step="reason")
            turn.say("ask_unsatisfied_reason")
    elif turn.parse.intent in ("feedback_satisfied", "affirm") or re.search(r"满意|satisfied|good|fine", turn.text, re.I):
        _satisfied(turn, petition)
    else:
        turn.conv.misses += 1
        turn.say_text(status_text(turn, petition), messages.quick("feedback", turn.locale))


def _satisfied(turn: Turn, petition: Petition) -> None:
    from bot.engine import BOT

    cases.do_feedback(turn.session, tracking_no=petition.tracking_no, satisfied=True, reason=None, actor=BOT,
                      now=turn.now)
    turn.reset()
    turn.say("feedback_thanks", tracking_no=petition.tracking_no)


def _unsatisfied(turn: Turn, reason: str) -> None:
    from bot.engine import BOT

    petition = _petition(turn)
    cases.do_feedback(turn.session, tracking_no=petition.tracking_no, satisfied=False, reason=reason[:2000],
                      actor=BOT, now=turn.now)
    window = petition.review_request_due_at if petition.status == Status.REPLIED else None
    if window is None or window < turn.now:
        turn.reset()
        turn.say("review_window_closed", due=turn.local_date(window) if window else "—")
        return
    if turn.state.get("verdict") == "review":
        return _request_review(turn, petition, reason)
    turn.set_state(step="offer_review", reason=reason[:2000])
    turn.say("offer_review", "review", due=turn.local_date(window))


def _offer_review(turn: Turn) -> None:
    petition = _petition(turn)
    if turn.parse.intent in ("affirm", "request_review") or re.search(r"申请|复查|review|yes", turn.text, re.I):
        _request_review(turn, petition, turn.state.get("reason") or turn.text)
    else:
        turn.reset()
        turn.say("review_declined")


def _request_review(turn: Turn, petition: Petition, reason: str) -> None:
    from bot.engine import BOT

    try:
        cases.do_transition(turn.session, tracking_no=petition.tracking_no, actor=BOT, now=turn.now,
                            change=TransitionIn(action=Action.REQUEST_REVIEW, reason=reason[:2000]))
    except cases.CaseError as exc:
        turn.reset()
        turn.say_text(str(exc))
        return
    turn.reset()
    turn.say("review_requested", tracking_no=petition.tracking_no, due=turn.local_date(petition.review_due_at))
