"""Conversation stories (YAML: the citizen says → the bot answers / the petition holds), on SQLite and PostgreSQL.

A step may hold:
  user: what the citizen sends ({tracking_no} and {code} are the last registration's)
  other: what the same citizen sends from another channel identity (a second conversation)
A story may name its `channel` and `sender` (default: web chat, a new id) and `other_channel` / `other_sender`.
  bot: a substring, or a list of substrings, that the bot's replies must contain
  bot_not: substrings the replies must not contain
  quick: a quick reply that must be offered
  silent: true when the bot must not answer
  mode: the conversation mode afterwards (bot, waiting, agent, closed)
  urgent: whether the conversation is marked urgent afterwards
  petition: fields the conversation's newest petition must have (status, head_count, area_code, ...)
  agent: takeover | send <text> | handback | close — a staff member acts instead of the citizen
  staff: <action> [text] — a staff member moves the newest petition (accept, assign, start, reply ...)
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import service as conversations
from bot.models import Conversation
from cases import service as cases
from cases.models import Petition
from cases.schemas import TransitionIn
from channels import service
from core.accounts import Actor, Role

STORIES = Path(__file__).parent / "stories"
STAFF = Actor("story-staff", Role.ADMIN)


def _load() -> list[dict]:
    stories = []
    for path in sorted(STORIES.glob("*.yml")):
        for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
            story["file"] = path.name
            stories.append(story)
    return stories


ALL = _load()


def _send(db, channel: str, conversation_id: str, text: str, locale: str) -> list[str]:
    result = service.receive(db, service.InboundMessage(channel=channel, sender=conversation_id,
                                                        message_id=uuid.uuid4().hex, text=text, locale=locale))
    return [r.text for r in result.replies]


CHANNEL = {"value": "webchat"}


def _conversation(session, conversation_id: str) -> Conversation:
    return conversations.get_by_identity(session, channel=CHANNEL["value"], external_id=conversation_id)


def _newest_petition(session, conversation_id: str) -> Petition | None:
    source = cases.source_digest(CHANNEL["value"], conversation_id)
    return session.scalar(select(Petition).where(Petition.source_hash == source).order_by(Petition.id.desc()).limit(1))


@pytest.mark.parametrize("story", ALL, ids=[f"{s['file']}:{s['story']}" for s in ALL])
def test_story(db, story):
    conversation_id = str(story.get("sender") or f"story-{uuid.uuid4().hex}")
    other_id = str(story.get("other_sender") or f"{conversation_id}-other")
    channel = CHANNEL["value"] = story.get("channel", "webchat")
    other_channel = story.get("other_channel", channel)
    locale = story.get("locale", "zh-CN")
    memory: dict[str, str] = {}
    transcript: list[str] = []
    for number, step in enumerate(story["steps"], start=1):
        where = f"{story['story']} step {number}"
        replies: list[str] = []
        if "user" in step or "other" in step:
            text = str(step.get("user", step.get("other"))).format(**memory)
            replies = _send(db, channel, conversation_id, text, locale) if "user" in step else \
                _send(db, other_channel, other_id, text, locale)
            transcript.append(f"> {text}\n" + "\n".join(f"< {r}" for r in replies))
        elif "agent" in step:
            _agent(db, conversation_id, step["agent"])
        elif "staff" in step:
            _staff(db, conversation_id, step["staff"])
        said = "\n".join(replies)
        context = f"{where}\n" + "\n".join(transcript[-3:])
        expected = step.get("bot", [])
        for fragment in [expected] if isinstance(expected, str) else expected:
            assert str(fragment).format(**memory) in said, context
        for fragment in step.get("bot_not", []):
            assert fragment not in said, context
        if step.get("silent"):
            assert replies == [], context
        if "quick" in step:
            with db.session() as session:
                last = conversations.history(session, _conversation(session, conversation_id))[-1]
                assert step["quick"] in last.quick_replies, context
        match = re.search(r"(XF-\d{8}-\d{6})", said)
        code = re.search(r"(?:查询码|Query code)[:：]\s*([2-9A-Z]{8})", said)
        if match and code:
            memory["tracking_no"], memory["code"] = match.group(1), code.group(1)
        with db.session() as session:
            conv = _conversation(session, conversation_id)
            if "mode" in step:
                assert conv.mode == step["mode"], context
            if "urgent" in step:
                assert conv.urgent is step["urgent"], context
            if "petition" in step:
                petition = _newest_petition(session, conversation_id)
                assert petition is not None, context
                for key, value in step["petition"].items():
                    actual = _field(petition, key)
                    assert actual == value, f"{context}\npetition.{key} = {actual!r}, expected {value!r}"
            if step.get("no_petition"):
                assert _newest_petition(session, conversation_id) is None, context


def _field(petition: Petition, key: str):
    if key == "petitioner_name":
        return petition.petitioner.name if petition.petitioner else None
    if key == "petitioner_phone":
        return petition.petitioner.phone if petition.petitioner else None
    if key == "supplements":
        return [s.text for s in petition.supplements]
    if key == "feedbacks":
        return [f.satisfied for f in petition.feedbacks]
    if key == "content_contains":
        return None
    return getattr(petition, key)


def _agent(db, conversation_id: str, command: str) -> None:
    verb, _, text = command.partition(" ")
    with db.transaction() as session:
        conv = _conversation(session, conversation_id)
        operations = {"takeover": conversations.do_take_over, "handback": conversations.do_hand_back,
                      "close": conversations.do_close}
        if verb == "send":
            _, message = conversations.do_agent_message(session, conversation_id=conv.id, actor=STAFF, text=text)
        else:
            _, message = operations[verb](session, conversation_id=conv.id, actor=STAFF)
        service.enqueue_agent_message(session, conv=conv, seq=message.seq, text=message.text)


def _staff(db, conversation_id: str, command: str) -> None:
    action, _, text = command.partition(" ")
    with db.transaction() as session:
        petition = _newest_petition(session, conversation_id)
        cases.do_transition(session, tracking_no=petition.tracking_no, actor=STAFF,
                            change=TransitionIn(action=action, reason=text or "story", text=text or None,
                                                unit="YL-GOV" if action == "assign" else None))
