"""The dialogue engine: one citizen message in, the bot's replies out, the conversation state advanced.

The caller holds the conversation's row lock and owns the transaction. The engine never asks for what
it already knows: every message is searched for facts (place, time, head-count, phone, name, an earlier
tracking number, the demand) before the current question is answered.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session

from bot import consult, followup, messages
from bot.intake import Intake
from bot.models import Conversation
from bot.service import do_handoff
from cases import catalog
from core.accounts import Actor, Role
from core.settings import get_settings
from nlu.areas import AreaIndex
from nlu.interpreter import Parse, default_interpreter
from nlu.normalize import detect_language

BOT = Actor("bot", Role.AGENT)
MAX_MISSES = 2
# Intents that interrupt whatever form is open, when the classifier is sure and the message is short.
GLOBAL_INTENTS = {"human_handoff", "cancel", "restart", "switch_language", "help", "out_of_scope"}
SHORT = 24


@dataclass
class Reply:
    text: str
    quick_replies: list[str] = field(default_factory=list)


@dataclass
class Turn:
    """What one message carries through the engine."""

    session: Session
    conv: Conversation
    text: str
    parse: Parse
    now: datetime
    geo: Geo
    media: dict | None = None
    replies: list[Reply] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return self.conv.locale

    def say(self, key: str, quick: str | None = None, **values: object) -> None:
        """Queue a localised reply."""
        self.replies.append(Reply(messages.t(key, self.locale, **values),
                                  messages.quick(quick, self.locale) if quick else []))

    def say_text(self, text: str, quick: list[str] | None = None) -> None:
        """Queue a reply already in the right language."""
        self.replies.append(Reply(text, quick or []))

    def local_date(self, value: datetime) -> str:
        """Format a deadline as a local calendar date."""
        local = value.astimezone(ZoneInfo(get_settings().timezone))
        return f"{local.year}年{local.month}月{local.day}日" if self.locale == "zh" else local.strftime("%-d %B %Y")

    @property
    def areas(self) -> AreaIndex:
        return self.geo.index

    @property
    def districts(self) -> list[str]:
        return list(self.geo.districts_en if self.locale == "en" else self.geo.districts)

    def area_label(self, code: str) -> str:
        """Name an area for the citizen: 岳麓区麓谷街道, or Lugu Subdistrict, Yuelu District."""
        path = [a for a in self.areas.path(code) if a.level != "city"]
        if self.locale == "en":
            return ", ".join(self.geo.names_en.get(a.code, a.name) for a in reversed(path)) or code
        return "".join(a.name for a in path) or code

    @property
    def state(self) -> dict:
        return self.conv.state

    def set_state(self, **changes: object) -> None:
        """Replace the state with these changes applied (JSON columns need a new object)."""
        self.conv.state = {**(self.conv.state or {}), **changes}

    def reset(self) -> None:
        """Forget the open form."""
        self.conv.state, self.conv.misses = {}, 0


@dataclass(frozen=True)
class Geo:
    """The configured areas as the bot needs them."""

    index: AreaIndex
    districts: tuple[str, ...]
    districts_en: tuple[str, ...]
    names_en: dict[str, str]


_geo_cache: tuple[float, Geo] | None = None


def geo(session: Session) -> Geo:
    """Return the configured areas, rebuilt at most once a minute."""
    global _geo_cache
    if _geo_cache is None or time.monotonic() - _geo_cache[0] > 60:
        areas = catalog.list_areas(session)
        rows = [{"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code,
                 "short_name": a.short_name, "name_en": a.name_en} for a in areas]
        districts = [a for a in areas if a.level == "district"]
        _geo_cache = (time.monotonic(), Geo(AreaIndex(rows), tuple(a.name for a in districts),
                                            tuple(a.name_en or a.name for a in districts),
                                            {a.code: a.name_en for a in areas if a.name_en}))
    return _geo_cache[1]


def reset_area_cache() -> None:
    """Drop the cached areas (after they change)."""
    global _geo_cache
    _geo_cache = None


def handle(session: Session, conv: Conversation, text: str, *, now: datetime, media: dict | None = None) -> list[Reply]:
    """Advance the conversation by one citizen message and return the bot's replies (none while an agent talks)."""
    if conv.mode == "closed":
        conv.mode = "bot"
        conv.state, conv.misses = {}, 0
    if conv.mode == "agent":
        return []
    text = (text or "").strip()
    places = geo(session)
    parse = default_interpreter().parse(text[:2000], areas=places.index, today=now.astimezone(
        ZoneInfo(get_settings().timezone)).date())
    turn = Turn(session, conv, text, parse, now, places, media)
    if conv.mode == "waiting":
        if parse.risk:
            conv.urgent = True
            turn.say("safety")
        elif not (conv.state or {}).get("waiting_told"):
            turn.say("waiting")
            turn.set_state(waiting_told=True)
        return turn.replies
    if not text and not media:
        turn.say("empty")
        return turn.replies
    _dispatch(turn)
    if conv.misses >= MAX_MISSES and conv.mode == "bot":
        do_handoff(conv, reason="not understood twice", now=now)
        turn.say("handoff")
    return turn.replies


def _dispatch(turn: Turn) -> None:
    parse, conv = turn.parse, turn.conv
    flow = (conv.state or {}).get("flow")
    if parse.risk:
        turn.say("safety")
        do_handoff(conv, reason=f"risk: {parse.risk}", urgent=True, now=turn.now)
        return
    if flow is None and conv.last_seq <= 1 and conv.locale == "zh" and detect_language(turn.text) == "en" \
            and len(re.findall(r"[A-Za-z]{2,}", turn.text)) >= 2:
        # A first message in English from a client left on the Chinese default: answer in English.
        conv.locale = "en"
    question = False
    if flow == consult.FLOW and (consult.verdict(turn) is not None or consult.wants(turn)):
        # "有帮助" / "Not helpful" answer the bot's question (they are not the help or deny commands); another
        # question is looked up too, before any command reading of it.
        consult.answer(turn)
        return
    if flow is None:
        question = consult.wants(turn)
        if question and consult.try_answer(turn):
            return
    if _global(turn, flow):
        return
    if flow in ("intake", "confirm"):
        Intake(turn).answer()
    elif flow in followup.FLOWS:
        followup.answer(turn)
    elif flow == consult.FLOW:
        consult.answer(turn)
    else:
        _idle(turn, question=question)


def _global(turn: Turn, flow: str | None) -> bool:
    """Handle an interrupting intent; return True if the message was used up."""
    parse = turn.parse
    intent = parse.intent
    sure = parse.confidence >= 0.5 and (is_short(turn) or intent in ("human_handoff", "switch_language"))
    if not sure or intent not in GLOBAL_INTENTS:
        return False
    if intent == "human_handoff":
        do_handoff(turn.conv, reason="citizen asked for a person", now=turn.now)
        turn.say("handoff")
    elif intent == "cancel":
        turn.reset()
        turn.say("cancelled", "greet")
    elif intent == "restart":
        turn.reset()
        turn.set_state(flow="intake", slots={}, asking="description")
        turn.say("restarted")
    elif intent == "switch_language":
        turn.conv.locale = _target_language(turn.text, turn.conv.locale)
        turn.say("language_switched")
        _reask(turn, flow)
    elif intent == "help":
        turn.say("help")
        _reask(turn, flow)
    elif intent == "out_of_scope":
        turn.say("out_of_scope")
        turn.conv.misses += 1
        _reask(turn, flow)
    return True


def is_short(turn: Turn) -> bool:
    """Tell whether a message is short enough to be a command rather than a description."""
    if turn.parse.language == "en":
        return len(turn.text.split()) <= 6
    return len(turn.text) <= SHORT


def _target_language(text: str, current: str) -> str:
    lowered = text.lower()
    if re.search(r"english|英文|英语", lowered):
        return "en"
    if re.search(r"chinese|中文|汉语|普通话|zhongwen", lowered):
        return "zh"
    return "zh" if current == "en" else "en"


def _reask(turn: Turn, flow: str | None) -> None:
    if flow in ("intake", "confirm"):
        Intake(turn).ask_next()
    elif flow in followup.FLOWS:
        followup.reask(turn)
    elif flow == consult.FLOW:
        consult.reask(turn)


def _idle(turn: Turn, *, question: bool = False) -> None:
    """Start whatever the citizen asks for when no form is open."""
    parse = turn.parse
    intent = parse.intent
    lone_code = followup.code_in(turn.text) == turn.text.strip().upper()
    if intent == "query_status" or lone_code or (parse.first("tracking_no") and intent not in (
            "supplement", "feedback_satisfied", "feedback_unsatisfied", "request_review")):
        followup.start(turn, "query")
    elif intent == "supplement":
        followup.start(turn, "supplement")
    elif intent in ("feedback_satisfied", "feedback_unsatisfied", "request_review"):
        followup.start(turn, "feedback")
    elif intent == "greet" and is_short(turn):
        turn.say("greet", "greet")
    elif intent == "thanks" and is_short(turn):
        turn.say("thanks")
    elif intent == "goodbye" and is_short(turn):
        turn.say("goodbye")
    elif intent in ("file_petition", "inform", "anonymous") or not is_short(turn):
        if question:
            turn.say("consult_none")  # a question the knowledge base has no answer to: a department will answer it
        Intake(turn).start()
    elif intent in ("affirm", "deny"):
        turn.say("greet", "greet")
    else:
        turn.conv.misses += 1
        turn.say("not_understood")
        turn.say("help")


def submit_petition(turn: Turn, data: dict):
    """Register the petition through the case service; return (petition, query code) or raise ValueError."""
    from cases import service as cases
    from cases.schemas import PetitionCreate

    try:
        payload = PetitionCreate.model_validate(data)
        return cases.create_petition(turn.session, data=payload, actor=BOT, now=turn.now,
                                     source=cases.source_digest(turn.conv.channel, turn.conv.external_id))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    except cases.CaseError as exc:
        raise ValueError(str(exc)) from None
