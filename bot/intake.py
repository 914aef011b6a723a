"""The intake form: the flow of questions, the confirmation summary and submission."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot import messages
from bot.answers import Answers, FormClosed, district_names
from bot.slots import (
    COLLECTIVE,
    CORRECTION_EN,
    CORRECTION_ZH,
    DEMAND,
    FIELD_OF,
    ONE_PERSON,
    ORDER,
    SKIP,
    parse_correction,
    strip_opening,
)
from nlu.contact import classify_contact

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine import Turn
    from nlu.interpreter import Parse

# The vocabulary moved to bot.slots; it stays importable from here.
__all__ = ["COLLECTIVE", "CORRECTION_EN", "CORRECTION_ZH", "DEMAND", "FIELD_OF", "ONE_PERSON", "ORDER", "SKIP", "Intake"]


class Intake(Answers):
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
        content = strip_opening(text) if parse.intent == "file_petition" else text
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
            t.replies[-1].quick_replies = district_names(t)
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
            except FormClosed:
                return
            if not answered:
                t.conv.misses += 1
                return
            self.harvest()
        else:
            self.harvest()
        t.conv.misses = 0
        self.ask_next()

    def _confirm(self) -> None:
        t = self.turn
        field_name, value = parse_correction(t.text)
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


def _title(description: str) -> str:
    first = re.split(r"[。！？!?\n]|(?<=[a-z])\.\s", description.strip(), maxsplit=1)[0].strip() or description.strip()
    limit = 40 if re.search(r"[\u4e00-\u9fff]", first) else 100
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _channel(channel: str) -> str:
    from cases.enums import Channel

    return channel if channel in {c.value for c in Channel} else "api"
