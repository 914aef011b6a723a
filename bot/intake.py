"""The intake form: slots, questions, the confirmation summary with corrections, and submission."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot import messages
from nlu.contact import classify_contact
from nlu.entities import parse_number

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine import Turn
    from nlu.interpreter import Parse

# The order of questions; optional ones may be answered with "skip".
ORDER = ("description", "area", "address", "occurred", "demand", "head_count", "previous", "previous_no", "name",
         "phone", "consent")
SKIP = re.compile(r"^\s*(跳过|不知道|不清楚|不记得|忘了|记不清|没有|无|不用|算了|skip|pass|no|none|n/?a|don'?t know|not sure|"
                  r"don'?t remember|unknown)\s*[。.!！]*\s*$", re.I)
DEMAND = re.compile(r"((?:希望|要求|请求|恳请|请|盼望|诉求是|诉求为)[^。！？!?\n]{2,120})|"
                    r"((?:I want|I would like|I'd like|please|I ask|we want|we ask|we demand)[^.!?\n]{3,200})", re.I)
CORRECTION_ZH = re.compile(r"(地址|地点|位置|时间|日期|诉求|要求|人数|姓名|名字|电话|手机|号码|问题|内容|描述)"
                           r"\s*(?:应该是|改成|改为|更正为|换成|是)\s*[:：]?\s*(.+)", re.S)
CORRECTION_EN = re.compile(r"(?:change|correct|update|set)\s+(?:the\s+|my\s+)?(address|place|location|time|date|demand|"
                           r"request|number of people|people|head ?count|name|phone|phone number|number|description|problem)"
                           r"\s+(?:to|into|as)\s+(.+)", re.I | re.S)
FIELD_OF = {"地址": "area", "地点": "area", "位置": "area", "时间": "occurred", "日期": "occurred", "诉求": "demand",
            "要求": "demand", "人数": "head_count", "姓名": "name", "名字": "name", "电话": "phone", "手机": "phone",
            "号码": "phone", "问题": "description", "内容": "description", "描述": "description", "address": "area",
            "place": "area", "location": "area", "time": "occurred", "date": "occurred", "demand": "demand",
            "request": "demand", "number of people": "head_count", "people": "head_count", "head count": "head_count",
            "headcount": "head_count", "name": "name", "phone": "phone", "phone number": "phone", "number": "phone",
            "description": "description", "problem": "description"}
ONE_PERSON = re.compile(r"(就我|只有我|我自己|本人|我一个|一个人|just me|only me|myself|^\s*one\s*$)", re.I)
COLLECTIVE = 5


class Intake:
    """The intake form of one turn."""

    def __init__(self, turn: Turn):
        self.turn = turn
        self.slots: dict = dict((turn.state or {}).get("slots") or {})
        self.asking: str | None = (turn.state or {}).get("asking")
        self.asked: list[str] = list((turn.state or {}).get("asked") or [])

    def _save(self, flow: str = "intake") -> None:
        self.turn.set_state(flow=flow, slots=self.slots, asking=self.asking, asked=self.asked)

    def start(self, *, text: str | None = None, parse: Parse | None = None, more: Sequence[tuple[str, Parse]] = (),
              contact_type: str | None = None, knowledge_answer_id: int | None = None) -> None:
        """Open the form with whatever the first message says (or earlier messages: a consultation that did not help)."""
        text = self.turn.text if text is None else text
        parse = self.turn.parse if parse is None else parse
        from bot.followup import verified_phone

        self.slots = {}
        phone = verified_phone(self.turn)
        if phone:
            self.slots["phone"] = phone  # the channel vouches for it: never ask
        self.harvest(parse=parse, text=text)
        content = _strip_opening(text) if parse.intent == "file_petition" else text
        if parse.intent == "anonymous":
            self.slots["anonymous"] = True
            content = ""
        if len(content) >= 6:
            self.slots["description"] = content
        for later_text, later_parse in more:
            self.harvest(parse=later_parse, text=later_text)
            self._append_description(later_text)
        # The type the citizen named ("我要举报…") is kept: the opening words are stripped from the description.
        guess = classify_contact(text)
        if contact_type or guess.labelled:
            self.slots["contact_type"] = contact_type or guess.type.value
        if knowledge_answer_id:
            self.slots["knowledge_answer_id"] = knowledge_answer_id
        self.ask_next()

    def harvest(self, overwrite: bool = False, *, parse: Parse | None = None, text: str | None = None) -> bool:
        """Fill slots from the facts in this message (or the given one); return True if anything was filled."""
        parse, filled = (self.turn.parse if parse is None else parse), False
        text = self.turn.text if text is None else text

        def put(name: str, value) -> None:
            nonlocal filled
            if value is not None and (overwrite or self.slots.get(name) in (None, "")):
                self.slots[name] = value
                filled = True

        area = parse.first("area")
        if area is not None:
            ref = self.turn.areas.get(str(area.value))
            current = self.slots.get("area_code")
            # A street beats the district already known, never the other way round.
            if ref and (overwrite or current is None or ref.code.startswith(current) and len(ref.code) > len(current)):
                self.slots["area_code"], self.slots["area_name"] = ref.code, self.turn.area_label(ref.code)
                filled = True
        address = parse.first("address")
        if address is not None:
            put("address", str(address.value))
        when = parse.first("date")
        if when is not None:
            put("occurred", str(when.value))
        count = parse.first("head_count")
        if count is not None:
            put("head_count", int(count.value))
        phone = parse.first("phone")
        if phone is not None:
            put("phone", str(phone.value))
        name = parse.first("name")
        if name is not None:
            put("name", str(name.value))
        id_number = parse.first("id_number")
        if id_number is not None:
            put("id_number", str(id_number.value))
        earlier = parse.first("tracking_no")
        if earlier is not None:
            put("previous_no", str(earlier.value))
            put("previous", True)
        demand = DEMAND.search(text)
        opening_only = parse.intent == "file_petition" and len(text) <= 40
        if demand and self.asking != "demand" and not opening_only:
            put("demand", demand.group(0).strip())
        return filled

    def needed(self) -> str | None:
        """Return the next slot to ask about, or None when the form is complete."""
        s = self.slots
        for slot in ORDER:
            if slot == "description" and not s.get("description"):
                return slot
            if slot == "area" and not s.get("area_code"):
                return slot
            if slot == "address" and not s.get("address") and "address" not in self.asked and s.get("area_code"):
                return slot
            if slot in ("occurred", "demand", "head_count", "previous", "name") and slot not in s \
                    and slot not in self.asked:
                if slot == "name" and s.get("anonymous"):
                    continue
                return slot
            if slot == "previous_no" and s.get("previous") is True and not s.get("previous_no") \
                    and "previous_no" not in self.asked:
                return slot
            if slot == "phone" and not s.get("anonymous") and "phone" not in s and "phone" not in self.asked:
                return slot
            if slot == "consent" and not s.get("consent"):
                return slot
        return None

    def ask_next(self) -> None:
        """Ask the next question, or show the summary when nothing is missing."""
        count = self.slots.get("head_count") or 0
        if count >= COLLECTIVE and not self.slots.get("collective_noted"):
            self.slots["collective_noted"] = True
            self.turn.say("collective_note", n=count)
        slot = self.needed()
        self.asking = slot
        if slot is None:
            self._save("confirm")
            self.turn.say("confirm", "confirm", summary=self.summary())
            return
        if slot not in self.asked:
            self.asked.append(slot)
        self._save()
        t = self.turn
        if slot == "address":
            t.say("ask_address_detail", "skip", area=self.slots.get("area_name", ""))
        elif slot == "occurred":
            t.say("ask_occurred", "skip")
        elif slot == "head_count":
            t.say("ask_head_count", "head_count")
        elif slot == "previous":
            t.say("ask_previous", "previous")
        elif slot == "previous_no":
            t.say("ask_previous_number", "skip")
        elif slot == "name":
            t.say("ask_name", "name")
        elif slot == "phone":
            t.say("ask_phone", "skip")
        elif slot == "consent":
            t.say("ask_consent", "consent")
        elif slot == "area":
            t.say("ask_area", None)
            t.replies[-1].quick_replies = _district_names(t)
        else:
            t.say(f"ask_{slot}")

    def answer(self) -> None:
        """Use the message as the answer to the open question (or the confirmation)."""
        t = self.turn
        if (t.state or {}).get("flow") == "confirm":
            self._confirm()
            return
        slot = self.asking
        if slot == "description":
            self.harvest()
            self._append_description(t.text)
        elif slot == "demand":
            self.harvest()
            self.slots["demand"] = t.text
        elif slot in ("area", "address", "occurred", "head_count", "previous", "previous_no", "name", "phone",
                      "consent"):
            try:
                answered = getattr(self, f"_answer_{slot}")()
            except _Stop:
                return
            if not answered:
                t.conv.misses += 1
                return
            self.harvest()
        else:
            self.harvest()
        t.conv.misses = 0
        self.ask_next()

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
        t.say("area_unknown", text=t.text[:30], areas="、".join(_district_names(t)) if t.locale == "zh"
              else ", ".join(_district_names(t)))
        t.replies[-1].quick_replies = _district_names(t)
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
            raise _Stop
        if t.parse.intent == "affirm" or re.search(r"同意|可以|好的|agree|accept|ok|yes", t.text, re.I):
            self.slots["consent"] = True
            return True
        t.say("ask_consent", "consent")
        return False

    def _confirm(self) -> None:
        t = self.turn
        field_name, value = _correction(t.text)
        if field_name:
            self._correct(field_name, value)
            return
        if t.parse.intent == "affirm" or re.search(r"确认|提交|submit|confirm", t.text, re.I) \
                and not re.search(r"不|别|don'?t|not", t.text, re.I):
            self.submit()
            return
        if self.harvest(overwrite=True):
            t.say("corrected")
            self.ask_next()
            return
        if t.parse.intent == "deny" or re.search(r"修改|改一下|不对|change|edit|wrong", t.text, re.I):
            t.conv.misses = 0
            t.say("confirm_which")
            return
        t.conv.misses += 1
        t.say("confirm", "confirm", summary=self.summary())

    def _correct(self, field_name: str, value: str) -> None:
        t = self.turn
        from nlu.interpreter import default_interpreter

        sub = default_interpreter().parse(value, areas=t.areas, today=t.now.date())
        if field_name == "area":
            area = sub.first("area")
            if area is None:
                t.say("area_unknown", text=value[:30], areas="、".join(_district_names(t)))
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

    def summary(self) -> str:
        """Render the slots for the citizen to check."""
        t, s = self.turn, self.slots
        i = messages.lang_index(t.locale)
        none = messages.t("none", t.locale)
        address, area_name = s.get("address") or "", s.get("area_name") or ""
        place = address if area_name and address.startswith(area_name) else " ".join(p for p in (area_name, address) if p)
        place = place or none
        previous = messages.t("yes" if s.get("previous") else "no", t.locale)
        if s.get("previous_no"):
            previous += f" ({s['previous_no']})"
        rows = [
            ("description", s.get("description", "")[:500]),
            ("area", place),
            ("occurred", s.get("occurred") or none),
            ("demand", s.get("demand") or none),
            ("head_count", str(s.get("head_count", 1))),
            ("previous", previous),
            ("name", messages.t("anonymous", t.locale) if s.get("anonymous") else (s.get("name") or none)),
            ("phone", s.get("phone") or none),
        ]
        sep = "：" if i == 0 else ": "
        return "\n".join(f"{messages.SLOT_LABELS[k][i]}{sep}{v}" for k, v in rows)

    def submit(self) -> None:
        """Register the petition and tell the citizen its tracking number, code and acceptance date."""
        from bot.engine import submit_petition

        t, s = self.turn, self.slots
        description = s.get("description") or ""
        person = None if s.get("anonymous") else {"name": s.get("name"), "phone": s.get("phone"),
                                                   "id_number": s.get("id_number")}
        if person and not any(person.values()):
            person = None
        data = {"title": _title(description), "content": description, "channel": _channel(t.conv.channel),
                "language": t.locale, "area_code": s.get("area_code"), "address": s.get("address"),
                "head_count": s.get("head_count") or 1, "demand": s.get("demand"), "occurred_on": s.get("occurred"),
                "previous_tracking_no": s.get("previous_no") if s.get("previous") else None, "petitioner": person}
        try:
            petition, code = submit_petition(t, data)
        except ValueError as exc:
            t.conv.misses += 1
            t.say("register_failed", reason=str(exc)[:200])
            t.say("confirm", "confirm", summary=self.summary())
            return
        t.conv.petition_id = petition.id
        if s.get("contact_type"):
            petition.contact_type = s["contact_type"]
        if s.get("knowledge_answer_id"):
            from knowledge.service import do_link_petition

            do_link_petition(t.session, answer_id=s["knowledge_answer_id"], petition_id=petition.id)
        t.reset()
        t.say("registered", tracking_no=petition.tracking_no, code=code, due=t.local_date(petition.accept_due_at))


class _Stop(Exception):
    """The form was closed while answering (consent refused)."""


def _correction(text: str) -> tuple[str | None, str]:
    for pattern in (CORRECTION_ZH, CORRECTION_EN):
        match = pattern.search(text)
        if match:
            key = match.group(1).lower()
            return FIELD_OF.get(key) or FIELD_OF.get(key.strip()), match.group(2).strip()
    return None, ""


def _strip_opening(text: str) -> str:
    return re.sub(r"^(你好|您好)?[，,]?\s*(我要|我想|想要)?(投诉|反映|举报|信访|求助|反映一个问题|反映问题|i want to (file|make) "
                  r"a (complaint|petition)|i'd like to (complain|report)|i want to complain)[：:，,。.!！]?\s*", "",
                  text, flags=re.I).strip()


def _title(description: str) -> str:
    first = re.split(r"[。！？!?\n]|(?<=[a-z])\.\s", description.strip(), maxsplit=1)[0].strip() or description.strip()
    limit = 40 if re.search(r"[\u4e00-\u9fff]", first) else 100
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _channel(channel: str) -> str:
    from cases.enums import Channel

    return channel if channel in {c.value for c in Channel} else "api"


def _district_names(turn: Turn) -> list[str]:
    return turn.districts[:12]
