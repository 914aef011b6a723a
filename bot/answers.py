"""Reading the citizen's answer to each intake question, and a correction at the confirmation."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.slots import ONE_PERSON, SKIP
from nlu.entities import parse_number

if TYPE_CHECKING:
    from bot.engine import Turn


class FormClosed(Exception):
    """The form was closed while answering (consent refused)."""


class Answers:
    """The per-question answer readers of the intake form; Intake supplies harvest() and ask_next()."""

    turn: Turn
    slots: dict
    asking: str | None

    def _append_description(self, text: str) -> None:
        current = self.slots.get("description") or ""
        self.slots["description"] = f"{current}\n{text}".strip() if current else text

    def _answer_area(self) -> bool:
        t = self.turn
        if self.harvest() and self.slots.get("area_code"):
            return True
        if len(t.text) > 15 and t.parse.intent in ("inform", "file_petition"):
            # More about what happened, not a place: merge it into the description and ask again.
            self._append_description(t.text)
            t.say("ask_more_description")
            return True
        t.say("area_unknown", text=t.text[:30], areas="、".join(district_names(t)) if t.locale == "zh"
              else ", ".join(district_names(t)))
        t.replies[-1].quick_replies = district_names(t)
        return False

    def _answer_address(self) -> bool:
        t = self.turn
        if SKIP.match(t.text) or t.parse.intent == "deny":
            return True
        self.harvest()
        address = t.parse.first("address")
        self.slots["address"] = str(address.value) if address else t.text[:300]
        return True

    def _answer_occurred(self) -> bool:
        t = self.turn
        when = t.parse.first("date")
        if when is not None:
            self.slots["occurred"] = str(when.value)
        elif SKIP.match(t.text) or t.parse.intent == "deny":
            self.slots["occurred"] = None
        else:
            self.slots["occurred"] = t.text[:40]
        return True

    def _answer_head_count(self) -> bool:
        t = self.turn
        count = t.parse.first("head_count") or t.parse.first("number")
        if count is not None and int(count.value) >= 1:
            self.slots["head_count"] = int(count.value)
            return True
        if ONE_PERSON.search(t.text):
            self.slots["head_count"] = 1
            return True
        value = parse_number(re.sub(r"[人个名户位多余来左右以上上下约大概差不多people persons of us]", " ", t.text).strip()
                                .split(" ")[0] or t.text)
        if value is not None and value >= 1:
            self.slots["head_count"] = value
            return True
        t.say("head_count_invalid", "head_count")
        return False

    def _answer_previous(self) -> bool:
        t = self.turn
        earlier = t.parse.first("tracking_no")
        if earlier is not None:
            self.slots["previous"], self.slots["previous_no"] = True, str(earlier.value)
        elif t.parse.intent == "deny" or re.search(r"没有|没反映|第一次|未曾|no\b|never|first time", t.text, re.I):
            self.slots["previous"] = False
        elif t.parse.intent == "affirm" or re.search(r"反映过|有过|是的|yes|before", t.text, re.I):
            self.slots["previous"] = True
        else:
            t.say("ask_previous", "previous")
            return False
        return True

    def _answer_previous_no(self) -> bool:
        t = self.turn
        earlier = t.parse.first("tracking_no")
        if earlier is not None:
            self.slots["previous_no"] = str(earlier.value)
        elif not (SKIP.match(t.text) or t.parse.intent == "deny"):
            t.say("ask_previous_number", "skip")
            return False
        return True

    def _answer_name(self) -> bool:
        t = self.turn
        if t.parse.intent == "anonymous" or re.search(r"匿名|不留名|anonym", t.text, re.I):
            self.slots["anonymous"], self.slots["name"] = True, None
            return True
        name = t.parse.first("name")
        if name is not None:
            self.slots["name"] = str(name.value)
            return True
        candidate = re.sub(r"^(我叫|我是|本人|叫我|姓名|名字|my name is|i am|i'm|call me)\s*[:：]?\s*", "", t.text,
                           flags=re.I).strip(" 。.!！")
        if 1 <= len(candidate) <= 30 and not re.search(r"\d", candidate):
            self.slots["name"] = candidate
            return True
        t.say("ask_name", "name")
        return False

    def _answer_phone(self) -> bool:
        t = self.turn
        phone = t.parse.first("phone")
        if phone is not None:
            self.slots["phone"] = str(phone.value)
            return True
        if SKIP.match(t.text) or t.parse.intent == "deny":
            self.slots["phone"] = None
            return True
        t.say("phone_invalid", "skip")
        return False

    def _answer_consent(self) -> bool:
        t = self.turn
        if t.parse.intent == "deny" or re.search(r"不同意|拒绝|disagree|do not agree|don'?t agree", t.text, re.I):
            t.reset()
            t.say("consent_refused")
            self.asking = None
            raise FormClosed
        if t.parse.intent == "affirm" or re.search(r"同意|可以|好的|agree|accept|ok|yes", t.text, re.I):
            self.slots["consent"] = True
            return True
        t.say("ask_consent", "consent")
        return False

    def _correct(self, field_name: str, value: str) -> None:
        t = self.turn
        from nlu.interpreter import default_interpreter

        sub = default_interpreter().parse(value, areas=t.areas, today=t.now.date())
        if field_name == "area":
            area = sub.first("area")
            if area is None:
                t.say("area_unknown", text=value[:30], areas="、".join(district_names(t)))
                t.conv.misses += 1
                return
            self.slots["area_code"] = str(area.value)
            self.slots["area_name"] = t.area_label(str(area.value))
            address = sub.first("address")
            self.slots["address"] = str(address.value) if address else value[:300]
        elif field_name == "head_count":
            count = sub.first("head_count") or sub.first("number")
            if count is None:
                t.say("head_count_invalid", "head_count")
                t.conv.misses += 1
                return
            self.slots["head_count"] = int(count.value)
        elif field_name == "phone":
            phone = sub.first("phone")
            if phone is None:
                t.say("phone_invalid", "skip")
                t.conv.misses += 1
                return
            self.slots["phone"] = str(phone.value)
        elif field_name == "occurred":
            when = sub.first("date")
            self.slots["occurred"] = str(when.value) if when else value[:40]
        elif field_name == "name":
            self.slots["name"], self.slots["anonymous"] = value.strip()[:100], False
        else:
            self.slots[field_name] = value.strip()
        t.conv.misses = 0
        t.say("corrected")
        self.ask_next()


def district_names(turn: Turn) -> list[str]:
    """Return the district names offered as quick replies."""
    return turn.districts[:12]
