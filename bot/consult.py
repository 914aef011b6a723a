"""Consultations answered at first contact from the knowledge base; an answer that did not help becomes a petition.

A question ("异地怎么缴纳城乡居民养老保险？") that a published entry answers gets that entry at once,
with where it comes from (the policy or reply, the unit, the date), and the bot asks whether it
helped. "Not helpful", or a complaint instead, opens the normal intake with what was said already in
the description; nothing the citizen typed is asked again.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot import messages
from core.settings import get_settings
from knowledge import service as knowledge
from nlu.contact import ContactType, classify_contact

if TYPE_CHECKING:
    from bot.engine import Turn

FLOW = "consult"
# Intents that mean a command, not a question, when the message is short and the classifier sure.
COMMANDS = {"human_handoff", "cancel", "restart", "switch_language", "query_status", "supplement", "feedback_satisfied",
            "feedback_unsatisfied", "request_review", "greet", "thanks", "goodbye", "affirm", "deny", "anonymous", "help"}
HELPFUL = re.compile(r"^\W*(?:" + "|".join((
    r"有帮助", r"有用", r"很有用", r"有帮助[，,]?谢谢", r"解决了", r"明白了", r"清楚了", r"知道了", r"懂了", r"了解了",
    r"好的[，,]?谢谢", r"谢谢", r"多谢", r"helpful", r"(?:yes[,.!]?\s*)?(?:it|that) (?:helped|helps)", r"that'?s helpful",
    r"very helpful", r"thanks?(?: you)?", r"got it", r"solved", r"understood", r"ok(?:ay)?,? thanks?")) + r")\W*$", re.I)
NOT_HELPFUL = re.compile("|".join((
    r"没有?帮助", r"没用", r"没有用", r"不管用", r"没解决", r"没有解决", r"不能解决", r"不是我要", r"不是我想", r"答非所问",
    r"不对", r"不行", r"not helpful", r"unhelpful", r"(?:did ?n'?t|does ?n'?t|did not|does not) help", r"no help",
    r"not (?:what|useful)", r"not (?:really )?(?:my|the) (?:question|problem)",
    r"(?:doesn'?t|does not|didn'?t|did not) (?:solve|answer)")), re.I)
MAX_ANSWER = 1200


def wants(turn: Turn) -> bool:
    """Tell whether an idle message is a question worth looking up (not a command, not a tracking number)."""
    from bot.engine import is_short

    parse = turn.parse
    if parse.first("tracking_no") is not None or len(turn.text) < 4:
        return False
    guess = classify_contact(turn.text)
    if guess.type != ContactType.CONSULTATION:
        return False
    # A short command ("申请复查", "check status") is what it says, unless it plainly asks how, where or what is
    # needed ("居住证怎么办理？"); a longer question with "apply" in it is a question.
    strong = guess.scores.get(ContactType.CONSULTATION.value, 0.0) >= 2.0
    return strong or not (parse.intent in COMMANDS and parse.confidence >= 0.9 and is_short(turn))


def try_answer(turn: Turn) -> bool:
    """Answer the message from the knowledge base if a published, valid entry fits; return whether it did."""
    found = knowledge.search(turn.session, turn.text, k=3, audience="citizen", on=_today(turn))
    if not found:
        return False
    _answer(turn, turn.text, found)
    return True


def _today(turn: Turn) -> date:
    return turn.now.astimezone(ZoneInfo(get_settings().timezone)).date()


def _answer(turn: Turn, question: str, found: list[knowledge.Found]) -> None:
    best = found[0].entry
    record = knowledge.do_record_answer(turn.session, conversation_id=turn.conv.id, channel=turn.conv.channel,
                                        question=question, language=turn.locale, found=found)
    text = best.answer if len(best.answer) <= MAX_ANSWER else best.answer[: MAX_ANSWER - 1] + "…"
    validity = messages.t("consult_valid_until", turn.locale, date=_date(turn, best.valid_until)) if best.valid_until else ""
    turn.say("consult_answer", answer=text, source=knowledge.source_line(best, turn.locale), validity=validity)
    turn.say("consult_ask", "consult")
    turn.conv.misses = 0
    turn.set_state(flow=FLOW, question=question[:2000], answer_id=record.id)


def _date(turn: Turn, day) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if turn.locale == "zh" else day.strftime("%-d %B %Y")


def verdict(turn: Turn) -> bool | None:
    """Return True / False when the message says the answer helped / did not; None when it says neither."""
    text = turn.text.strip()
    if NOT_HELPFUL.search(text):
        return False
    if HELPFUL.match(text):
        return True
    intent = turn.parse.intent
    if intent in ("deny", "feedback_unsatisfied") and turn.parse.confidence >= 0.9:
        return False
    if intent in ("affirm", "thanks", "feedback_satisfied") and turn.parse.confidence >= 0.9:
        return True
    return None


def reask(turn: Turn) -> None:
    """Ask again whether the answer helped."""
    turn.say("consult_ask", "consult")


def answer(turn: Turn) -> None:
    """Use the message after an answer: a verdict, a new question, or the problem itself."""
    helped = verdict(turn)
    state = turn.state
    if helped is True:
        knowledge.do_record_verdict(turn.session, answer_id=state.get("answer_id"), helped=True)
        turn.reset()
        turn.say("consult_glad")
        return
    if helped is False:
        knowledge.do_record_verdict(turn.session, answer_id=state.get("answer_id"), helped=False)
        rest = NOT_HELPFUL.sub(" ", turn.text)
        rest = re.sub(r"^[\W_]+|[\W_]+$", "", rest)
        escalate(turn, extra=turn.text if len(rest) >= 6 else None)
        return
    guess = classify_contact(turn.text)
    if guess.type == ContactType.CONSULTATION and len(turn.text) >= 4:
        # Another question: the last answer got no verdict; look this one up.
        if try_answer(turn):
            return
        turn.say("consult_none")
        escalate(turn, extra=turn.text, announce=False, with_question=False)
        return
    if len(turn.text) >= 15 or guess.labelled:
        # The citizen is telling their problem (a complaint, a request for help): register it.
        knowledge.do_record_verdict(turn.session, answer_id=state.get("answer_id"), helped=False)
        escalate(turn, extra=turn.text, contact_type=guess.type.value)
        return
    turn.conv.misses += 1
    turn.say("consult_reask", "consult")


def escalate(turn: Turn, *, extra: str | None = None, contact_type: str | None = None, announce: bool = True,
             with_question: bool = True) -> None:
    """Open the intake form with the question (and what was said since) already in the description."""
    from bot.intake import Intake
    from nlu.interpreter import default_interpreter

    question = turn.state.get("question") if with_question else None
    answer_id = turn.state.get("answer_id") if with_question else None
    if announce:
        turn.say("consult_to_intake")
    today = _today(turn)
    parts = []
    for text in (question, extra):
        if text:
            parts.append((text, turn.parse if text == turn.text else
                          default_interpreter().parse(text[:2000], areas=turn.areas, today=today)))
    intake = Intake(turn)
    first, *more = parts or [(turn.text, turn.parse)]
    intake.start(text=first[0], parse=first[1], more=more,
                 contact_type=contact_type or ContactType.CONSULTATION.value, knowledge_answer_id=answer_id)
